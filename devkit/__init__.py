"""What helps develop Miaohua and never ships: the production image (deploy/Dockerfile, .dockerignore) leaves
this package out, and ``app`` imports it only where a development setting asks for it.

- :mod:`devkit.wechat_sandbox`: the WeChat emulator (mini-program APIs, message push, WeChat Pay), its own
  process (``python -m devkit.wechat_sandbox``) in ``make run``, the tests, the benchmarks and staging;
- :mod:`devkit.demo`: ``/demo/``, the simulated mini-program, and ``flask demo run`` (``DEMO_ENABLED``);
- :mod:`devkit.devstack`: ``make run``, the whole product on one machine (``python -m devkit.devstack``).
"""
