// The decisions feed, live: poll for decisions newer than the newest row shown and
// put them on top. Without JavaScript the page is the same, minus this.
(function () {
  "use strict";
  var POLL_MS = 5000;
  var KEEP = 200; // rows kept in the table; older ones are on the next pages
  var table = document.getElementById("decisions");
  if (!table || table.dataset.live !== "on" || !window.fetch) {
    return;
  }
  var tbody = table.tBodies[0];
  var status = document.getElementById("live-status");
  var after = table.dataset.after;
  var url = table.dataset.rowsUrl;
  var timer = null;

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function stop(text) {
    say(text);
    table.dataset.live = "stopped";
    if (timer) {
      clearTimeout(timer);
    }
  }

  function insert(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html; // rows rendered and escaped by the server
    var rows = tpl.content.querySelectorAll("tr");
    if (!rows.length) {
      return 0;
    }
    if (rows[0].dataset.gap) {
      stop("");
      tbody.insertBefore(rows[0], tbody.firstChild);
      return 0;
    }
    var first = tbody.firstChild;
    for (var i = 0; i < rows.length; i++) {
      rows[i].classList.add("fresh");
      tbody.insertBefore(rows[i], first);
    }
    after = rows[0].dataset.index;
    table.dataset.after = after;
    var empty = document.getElementById("no-decisions");
    if (empty) {
      empty.remove();
    }
    while (tbody.rows.length > KEEP) {
      tbody.deleteRow(-1);
    }
    return rows.length;
  }

  function poll() {
    if (document.hidden) {
      timer = setTimeout(poll, POLL_MS);
      return;
    }
    var sep = url.indexOf("?") >= 0 ? "&" : "?";
    fetch(url + sep + "after=" + encodeURIComponent(after), {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
      redirect: "manual",
    })
      .then(function (res) {
        if (res.type === "opaqueredirect" || res.status === 401 || res.status === 303) {
          throw new Error("signed out: reload the page to sign in again");
        }
        if (!res.ok) {
          throw new Error("the server answered " + res.status);
        }
        return res.text();
      })
      .then(function (html) {
        var n = insert(html);
        if (table.dataset.live === "on") {
          var now = new Date().toISOString().slice(11, 19);
          say("Live: checked " + now + " UTC" + (n ? ", " + n + " new" : "") + ".");
          timer = setTimeout(poll, POLL_MS);
        }
      })
      .catch(function (err) {
        stop("Live updates stopped (" + err.message + ").");
      });
  }

  say("Live: new decisions appear on top.");
  timer = setTimeout(poll, POLL_MS);
})();
