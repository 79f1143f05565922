"""Tests of the WeChat sandbox (app.wechat_sandbox), through the real wechatpy client."""
