"""Tests of the WeChat sandbox (devkit.wechat_sandbox), through the real wechatpy client."""
