"""WeChat Pay API v3 emulation (``api.mch.weixin.qq.com``) inside the WeChat sandbox.

The backend uses the real ``wechatpayv3`` client against it; only the gateway and the keys differ::

    from wechatpayv3 import WeChatPay, WeChatPayType
    from devkit.wechat_sandbox.pay import dev_credentials

    creds = dev_credentials("instance/wechat_sandbox_pay")    # generated on first use, shared with the sandbox
    wxpay = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG, mchid=creds["mchid"], appid=creds["appid"],
        private_key=creds["merchant_private_key"], cert_serial_no=creds["merchant_cert_serial_no"],
        apiv3_key=creds["apiv3_key"], notify_url="http://127.0.0.1:5000/api/pay/notify",
        public_key=creds["wechatpay_public_key"], public_key_id=creds["wechatpay_public_key_id"],
        timeout=(5, 10),
    )
    wxpay._core._gate_way = "http://127.0.0.1:5100"  # no trailing slash; paths start with /v3/

(certificate mode: pass ``cert_dir=creds["platform_cert_dir"]`` instead of the public key, so the
constructor loads the certificate from disk rather than downloading it from the official gateway.)

Modules: :mod:`.settings` (``WECHAT_SANDBOX_PAY_*``), :mod:`.keys` (key material, :func:`dev_credentials`),
:mod:`.crypto` (signatures, AES-GCM), :mod:`.errors`, :mod:`.validation`, :mod:`.records`,
:mod:`.state` (orders, refunds, rules), :mod:`.notify` (notifications and retries), :mod:`.api` (``/v3/…``),
:mod:`.dev` (``/sandbox/api/pay/…`` and the ``/sandbox/pay`` page).
"""

from __future__ import annotations

from devkit.wechat_sandbox.pay.keys import dev_credentials, load_or_create_keys
from devkit.wechat_sandbox.pay.settings import PaySettings

__all__ = ["PaySettings", "dev_credentials", "load_or_create_keys"]
