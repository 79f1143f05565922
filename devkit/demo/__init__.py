"""The mini-program, simulated: a demo client for people without a phone or a WeChat account.

- :mod:`.views`: ``/demo/`` (the phone-sized page in ``static/demo/``, calling the same JSON API as the
  mini-program), ``/demo/config.json`` (what the page needs to know about this server) and
  ``/demo/sandbox/<path>``, a same-origin proxy to a few calls of the WeChat sandbox's developer API
  (development only: refused when ``WECHAT_SANDBOX`` is off).
- :mod:`.journey`: the same journey over HTTP against a running ``make run`` stack, step by step
  (:mod:`.client`: its HTTP side — the API, the sandbox's developer API, signed media links).
- :mod:`.cli`: ``flask --app wsgi:app demo run --out demo-output/``.
"""
