// The staff member's own account: roles and what they allow, and setting up the TOTP second factor (the secret is
// shown once, to type into an authenticator app; a code confirms it). Removing a lost factor is an admin's job.

import { get, post } from "../api.js";
import { append, bi, clear, errorBox, facts, h, pageHead, ROLES, when } from "../dom.js";

export default async function render(root, ctx) {
  const session = await get("/session");
  const staff = session.staff;
  root.append(pageHead(bi("我的账户", "My account"), null));
  root.append(h("section", { class: "panel", id: "account-facts" }, facts([
    [bi("用户名", "Username"), staff.username],
    [bi("角色", "Roles"), h("div", { class: "chips" }, staff.roles.map((r) => h("span", { class: "chip" }, ROLES[r] || r)))],
    [bi("权限", "Permissions"), staff.permissions.map((p) => h("code", {}, p, " "))],
    [bi("二次验证", "Second factor"), staff.totp_enabled ? "已启用 on" : "未启用 off"],
    [bi("最近登录", "Last login"), when(staff.last_login_at)],
    [bi("会话闲置超时", "Idle timeout"), `${Math.round(session.idle_timeout_s / 60)} min`],
  ])));
  if (!staff.totp_enabled) root.append(totpPanel(ctx));
}

function totpPanel(ctx) {
  const panel = h("section", { class: "panel", id: "totp-setup" }, h("h2", {}, ...bi("设置二次验证", "Set up TOTP")),
    h("p", { class: "muted" }, "开启后，登录时需输入验证器应用中的 6 位动态码。 Once on, logging in also asks for the " +
      "6-digit code of an authenticator app."));
  const errors = h("div");
  const start = h("button", { type: "button", class: "primary", id: "totp-start" }, ...bi("开始设置", "Start"));
  panel.append(start, errors);
  start.addEventListener("click", async () => {
    clear(errors);
    try {
      const enrolment = await post("/session/totp");
      start.remove();
      const code = h("input", { id: "totp-code", inputmode: "numeric", maxlength: 10, autocomplete: "one-time-code" });
      const confirm = h("form", { class: "form-row" }, h("label", { class: "field" }, ...bi("动态码", "Code"), code),
                        h("button", { type: "submit", class: "primary" }, ...bi("确认开启", "Turn on")));
      confirm.addEventListener("submit", async (event) => {
        event.preventDefault();
        clear(errors);
        try {
          await post("/session/totp/confirm", { code: code.value.trim() });
          ctx.toast("二次验证已开启 Second factor on");
          ctx.refresh();
        } catch (error) {
          append(errors, [errorBox(error)]);
        }
      });
      panel.insertBefore(h("div", { class: "form-grid" },
        h("p", {}, "在验证器应用中添加此密钥（只显示这一次）： Add this secret to an authenticator app (shown once):"),
        h("div", { class: "secret mono", id: "totp-secret" }, enrolment.secret),
        h("div", { class: "muted mono" }, enrolment.otpauth_uri), confirm), errors);
    } catch (error) {
      append(errors, [errorBox(error)]);
    }
  });
  return panel;
}
