"""Rendering console pages: one Jinja environment (autoescaped) over ``templates/``.

CONTRACT (being implemented by the console-auth work; page modules rely on it):

``render(request, template, user, /, **context) -> HTMLResponse``
    Renders ``templates/<template>`` with ``context`` plus: ``user`` (the
    :class:`~tether.server.Principal` or None), ``csrf_token`` (the session's, for every
    POST form as a hidden field named ``csrf_token``), ``request``. Templates extend
    ``base.html`` and fill ``{% block title %}`` and ``{% block content %}``; the context
    variable ``nav`` names the active navigation entry: ``overview``, ``decisions``,
    ``approvals``, ``monitoring`` or ``breakers``.
    Filters: ``ts`` (epoch seconds -> ``2026-11-29 08:30:17 UTC``), ``ago``
    (epoch seconds -> ``3 min ago``), ``json`` (pretty, escaped JSON).
"""
