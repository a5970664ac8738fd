// Re-check a decision's ledger receipt in the browser, trusting nothing the server
// concluded: the Merkle inclusion proof (RFC 9162, SHA-256 via crypto.subtle.digest)
// from the entry to the checkpoint's root, the entry's index and digest, and the
// checkpoint's Ed25519 signature (crypto.subtle.verify, where the browser has it).
(function () {
  "use strict";
  var data = document.getElementById("receipt-data");
  var out = document.getElementById("receipt-browser");
  var list = document.getElementById("receipt-browser-details");
  if (!data || !out) {
    return;
  }
  var enc = new TextEncoder();

  function show(result, text) {
    out.dataset.result = result;
    out.className = "check " + (result === "verified" ? "ok" : result === "failed" ? "bad" : "pending");
    out.textContent = text;
  }

  function note(ok, text) {
    if (!list) {
      return;
    }
    var li = document.createElement("li");
    li.className = ok === true ? "ok" : ok === false ? "bad" : "skip";
    li.textContent = (ok === true ? "✓ " : ok === false ? "✗ " : "– ") + text;
    list.appendChild(li);
  }

  function b64(text) {
    var bin = atob(text);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      bytes[i] = bin.charCodeAt(i);
    }
    return bytes;
  }

  function concat(parts) {
    var n = 0;
    parts.forEach(function (p) { n += p.length; });
    var all = new Uint8Array(n);
    var at = 0;
    parts.forEach(function (p) { all.set(p, at); at += p.length; });
    return all;
  }

  function equal(a, b) {
    if (a.length !== b.length) {
      return false;
    }
    for (var i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) {
        return false;
      }
    }
    return true;
  }

  function hex(bytes) {
    return Array.from(bytes, function (x) { return x.toString(16).padStart(2, "0"); }).join("");
  }

  async function sha256(parts) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(parts)));
  }

  function bitLength(n) {
    return n === 0n ? 0 : n.toString(2).length;
  }

  function popCount(n) {
    return n.toString(2).split("").filter(function (c) { return c === "1"; }).length;
  }

  // RFC 9162 section 2.1.3.2: the root an inclusion proof implies.
  async function rootFromProof(leaf, index, size, proof) {
    if (!(index >= 0n && index < size)) {
      throw new Error("leaf " + index + " is outside a tree of " + size);
    }
    var inner = bitLength(index ^ (size - 1n));
    var expected = inner + popCount(index >> BigInt(inner));
    if (proof.length !== expected) {
      throw new Error("the proof has " + proof.length + " hashes, expected " + expected);
    }
    var fn = index;
    var sn = size - 1n;
    var r = leaf;
    var one = new Uint8Array([1]);
    for (var i = 0; i < proof.length; i++) {
      var p = proof[i];
      if (p.length !== 32) {
        throw new Error("proof hash " + i + " is not 32 bytes");
      }
      if ((fn & 1n) === 1n || fn === sn) {
        r = await sha256([one, p, r]);
        while (fn !== 0n && (fn & 1n) === 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        r = await sha256([one, r, p]);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    return r;
  }

  // A C2SP signed note: "<text>\n\n— <name> <base64(key id ‖ signature)>\n".
  function parseNote(note) {
    var cut = note.indexOf("\n\n");
    if (cut < 0) {
      throw new Error("the checkpoint has no signature block");
    }
    var text = note.slice(0, cut + 1);
    var lines = text.slice(0, -1).split("\n");
    var sigs = note.slice(cut + 2).split("\n").filter(function (l) { return l; });
    return { text: text, origin: lines[0], size: lines[1], root: lines[2], sigs: sigs };
  }

  async function checkSignature(cp, vkey) {
    // NAME+KEYID+BASE64, where the base64 may contain "+" itself
    var one = vkey.indexOf("+");
    var two = vkey.indexOf("+", one + 1);
    if (one < 1 || two < 0) {
      throw new Error("the log key is not NAME+KEYID+BASE64");
    }
    var parts = [vkey.slice(0, one), vkey.slice(one + 1, two), vkey.slice(two + 1)];
    var name = parts[0];
    var raw = b64(parts[2]);
    if (raw.length !== 33 || raw[0] !== 1) {
      throw new Error("the log key is not an Ed25519 key");
    }
    var pub = raw.slice(1);
    var keyId = (await sha256([enc.encode(name + "\n"), new Uint8Array([1]), pub])).slice(0, 4);
    if (hex(keyId) !== parts[1]) {
      throw new Error("the log key's id does not match its name and key");
    }
    if (cp.origin !== name) {
      throw new Error("the checkpoint is of log " + cp.origin + ", not " + name);
    }
    var prefix = "\u2014 " + name + " ";
    var line = cp.sigs.find(function (l) { return l.indexOf(prefix) === 0; });
    if (!line) {
      throw new Error("the checkpoint is not signed by " + name);
    }
    var blob = b64(line.slice(prefix.length));
    if (!equal(blob.slice(0, 4), keyId)) {
      throw new Error("the signature's key id is not the log key's");
    }
    var key;
    try {
      key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    } catch (err) {
      return null; // this browser has no Ed25519 in WebCrypto
    }
    return crypto.subtle.verify({ name: "Ed25519" }, key, blob.slice(4), enc.encode(cp.text));
  }

  async function check() {
    var given = JSON.parse(data.textContent);
    var rc = given.receipt;
    var entry = JSON.parse(rc.entry);
    if (entry.index !== rc.leaf_index) {
      throw new Error("the entry says index " + entry.index + ", the receipt " + rc.leaf_index);
    }
    if (entry.payload_digest !== rc.payload_digest) {
      throw new Error("the entry's payload digest differs from the receipt's");
    }
    note(true, "entry #" + entry.index + " (" + entry.kind + ", " + entry.timestamp + ") matches the receipt");
    var cp = parseNote(rc.checkpoint);
    if (String(rc.tree_size) !== cp.size) {
      throw new Error("the receipt's tree size differs from its checkpoint's");
    }
    var leaf = await sha256([new Uint8Array([0]), enc.encode(rc.entry)]);
    var proof = rc.inclusion_proof.map(b64);
    var root = await rootFromProof(leaf, BigInt(rc.leaf_index), BigInt(rc.tree_size), proof);
    if (!equal(root, b64(cp.root))) {
      throw new Error("the inclusion proof does not lead to the checkpoint's root");
    }
    note(true, "Merkle inclusion proof (" + proof.length + " hashes) leads to the root " +
      hex(root).slice(0, 16) + "… of the tree of " + cp.size + " entries");
    var signed = await checkSignature(cp, given.vkey);
    if (signed === false) {
      throw new Error("the checkpoint's Ed25519 signature does not verify");
    }
    if (signed === null) {
      note(null, "signature not checked: this browser has no Ed25519 in WebCrypto (the server checked it)");
      return "verified ✓ (proof; signature checked by the server only)";
    }
    note(true, "checkpoint signature verifies with the log key (Ed25519)");
    return "verified ✓";
  }

  if (!window.crypto || !crypto.subtle || typeof BigInt === "undefined") {
    show("unsupported", "Browser check: not possible here (WebCrypto needs HTTPS or localhost).");
    return;
  }
  show("pending", "Browser check: checking…");
  check().then(
    function (text) { show("verified", "Browser check: " + text); },
    function (err) {
      note(false, err.message);
      show("failed", "Browser check: failed ✗ — " + err.message);
    }
  );
})();
