"""Console sessions: login with username + password (argon2id), a session cookie, CSRF.

CONTRACT (being implemented by the console-auth work; page modules rely on it):

``CurrentUser = Annotated[Principal, Depends(console_user)]``
    The logged-in user as a :class:`~tether.server.Principal` (``actor``, ``role``,
    ``systems`` scope). Without a valid session, the request is answered with a redirect
    (303) to ``/console/login?next=<path>``.
``CsrfChecked = Annotated[None, Depends(check_csrf)]``
    For every POST handler of the console: the form field ``csrf_token`` must equal the
    session's token (403 otherwise).
``require(user, *roles)``
    Raises :class:`tether.server._errors.Forbidden` (rendered as a 403 page under
    ``/console``) unless ``user.role`` is one of ``roles``.
"""
