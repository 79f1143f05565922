// Staff accounts (admins): list, create with roles and an initial password, change roles, disable/enable, lift a
// lock-out, remove a lost second factor. Every change revokes the account's sessions on the server, so the new
// roles hold at once; the server also refuses to let an admin disable or demote themselves.

import { get, patch, post } from "../api.js";
import { bi, h, pageHead, ROLES, table, when } from "../dom.js";
import { formDialog, localError, reasonField } from "../dialogs.js";

const ROLE_OPTIONS = Object.entries(ROLES);

export default async function render(root, ctx) {
  const create = h("button", { type: "button", class: "primary", id: "staff-create", onclick: () => createStaff(ctx) },
                   ...bi("新建员工账户", "New staff account"));
  root.append(pageHead(bi("员工管理", "Staff accounts"), "最小权限：只授予工作所需的角色。 Least privilege: grant only " +
                       "the roles a job needs.", create));
  const data = await get("/staff");
  root.append(h("section", { class: "panel", id: "staff-list" }, table([
    [bi("用户名", "Username"), (s) => h("strong", {}, s.username)],
    [bi("角色", "Roles"), (s) => h("div", { class: "chips" }, s.roles.map((r) => h("span", { class: "chip" }, ROLES[r] || r)))],
    [bi("二次验证", "TOTP"), (s) => (s.totp_enabled ? h("span", { class: "badge ok" }, "已启用 on") : h("span", { class: "badge" }, "未启用 off"))],
    [bi("状态", "State"), (s) => stateBadge(s)],
    [bi("创建", "Created"), (s) => when(s.created_at)],
    [bi("最近登录", "Last login"), (s) => when(s.last_login_at)],
    [bi("操作", "Actions"), (s) => actions(ctx, s)],
  ], data.staff, { rowKey: (s) => s.username })));
}

function stateBadge(staff) {
  if (staff.disabled) return h("span", { class: "badge bad" }, "已停用 disabled");
  if (staff.locked_until && new Date(staff.locked_until) > new Date()) {
    return h("span", { class: "badge warn" }, `锁定至 locked until ${when(staff.locked_until)}`);
  }
  return h("span", { class: "badge ok" }, "正常 active");
}

function actions(ctx, staff) {
  const self = staff.username === ctx.staff.username;
  const locked = staff.locked_until && new Date(staff.locked_until) > new Date();
  const button = (label, action, onclick, cls = "small") => h("button", { type: "button", class: cls,
                                                                        "data-action": action, onclick }, label);
  return h("div", { class: "actions" },
    button("修改角色 Roles", "roles", () => editRoles(ctx, staff)),
    self ? null : button(staff.disabled ? "启用 Enable" : "停用 Disable", staff.disabled ? "enable" : "disable",
                         () => setDisabled(ctx, staff, !staff.disabled), staff.disabled ? "small" : "small danger"),
    locked ? button("解锁 Unlock", "unlock", () => withReason(ctx, staff, "unlock", "解除锁定 Lift the lock-out")) : null,
    staff.totp_enabled ? button("重置二次验证 Reset TOTP", "reset-totp",
                                () => withReason(ctx, staff, "totp/reset", "重置二次验证 Remove the second factor")) : null);
}

async function createStaff(ctx) {
  const done = await formDialog({
    title: "新建员工账户 New staff account",
    intro: "初始密码至少 12 个字符，请通过安全渠道告知。 The initial password needs at least 12 characters; " +
           "hand it over through a safe channel.",
    fields: [
      { name: "username", label: bi("用户名", "Username"), required: true, minlength: 3, maxlength: 32 },
      { name: "roles", label: bi("角色", "Roles"), type: "checkboxes", options: ROLE_OPTIONS },
      { name: "password", label: bi("初始密码", "Initial password"), type: "password", required: true, maxlength: 256 },
    ],
    submitLabel: "创建 Create",
    onSubmit: (values) => {
      if (!values.roles.length) throw localError("roles_required", "请至少选择一个角色 Choose at least one role.");
      return post("/staff", { username: values.username, roles: values.roles, password: values.password });
    },
  });
  if (done) { ctx.toast(`已创建 Created ${done.username}`); ctx.refresh(); }
}

async function editRoles(ctx, staff) {
  const done = await formDialog({
    title: `修改角色 Roles of ${staff.username}`,
    intro: "修改后该员工的所有会话立即失效。 The account's sessions end at once.",
    fields: [
      { name: "roles", label: bi("角色", "Roles"), type: "checkboxes", options: ROLE_OPTIONS, value: staff.roles },
      reasonField(bi("原因（可选）", "Reason, optional"), { required: false, minlength: null }),
    ],
    submitLabel: "保存 Save",
    onSubmit: (values) => {
      if (!values.roles.length) throw localError("roles_required", "请至少选择一个角色 Choose at least one role.");
      return patch(`/staff/${encodeURIComponent(staff.username)}`, { roles: values.roles, reason: values.reason || null });
    },
  });
  if (done) { ctx.toast(`角色已更新 Roles changed: ${done.username}`); ctx.refresh(); }
}

async function setDisabled(ctx, staff, disabled) {
  const done = await formDialog({
    title: disabled ? `停用 Disable ${staff.username}` : `启用 Enable ${staff.username}`,
    intro: disabled ? "该员工将无法登录，现有会话立即失效。 They can no longer log in; their sessions end at once." : null,
    fields: [reasonField(bi("原因（可选）", "Reason, optional"), { required: false, minlength: null })],
    submitLabel: disabled ? "停用 Disable" : "启用 Enable",
    danger: disabled,
    onSubmit: (values) => patch(`/staff/${encodeURIComponent(staff.username)}`, { disabled, reason: values.reason || null }),
  });
  if (done) { ctx.toast(disabled ? "已停用 Disabled" : "已启用 Enabled"); ctx.refresh(); }
}

async function withReason(ctx, staff, action, title) {
  const done = await formDialog({
    title: `${title}: ${staff.username}`,
    fields: [reasonField(bi("原因", "Reason"), { minlength: 3, maxlength: 500 })],
    submitLabel: "确认 Confirm",
    onSubmit: (values) => post(`/staff/${encodeURIComponent(staff.username)}/${action}`, { reason: values.reason }),
  });
  if (done) { ctx.toast("已完成 Done"); ctx.refresh(); }
}
