// Users: look up by user id, phone number or order number; a masked view (no images, ever); unmasking one field
// asks for a reason first (audit-logged) and shows that one value only until the staff member leaves the page;
// block and unblock with a reason. The search text may be a phone number, so it is kept in memory, never in the URL.

import { get, post } from "../api.js";
import { append, bi, clear, errorBox, facts, h, pageHead, statusBadge, table, when, yuan } from "../dom.js";
import { formDialog, reasonField } from "../dialogs.js";

let lastSearch = null; // {q, result}: lets "back to results" work without putting the query in the address bar
const SEARCHED_AS = { user_id: "用户编号 user id", phone: "手机号 phone", order_number: "订单号 order number" };

export default async function render(root, ctx) {
  return ctx.id ? renderUser(root, ctx) : renderSearch(root, ctx);
}

async function renderSearch(root, ctx) {
  root.append(pageHead(bi("用户查询", "User lookup"), "按用户编号、手机号或订单号查找；结果已脱敏，查询记入审计日志。 " +
                       "Find a user by id, phone number or order number; results are masked; searches are audit-logged."));
  const input = h("input", { id: "user-query", maxlength: 64, required: true, autocomplete: "off",
                             placeholder: "用户编号 / 手机号 / 订单号", value: lastSearch ? lastSearch.q : null });
  const results = h("div", { id: "user-results" });
  const form = h("form", { class: "filters", id: "user-search" },
    h("label", { class: "field" }, ...bi("查找", "Find"), input),
    h("button", { type: "submit", class: "primary" }, ...bi("查询", "Search")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(results);
    const q = input.value.trim();
    if (!q) return;
    try {
      lastSearch = { q, result: await get("/users", { q }) };
      showResults(results, ctx, lastSearch.result);
    } catch (error) {
      append(results, [errorBox(error)]);
    }
  });
  root.append(form, results);
  if (lastSearch) showResults(results, ctx, lastSearch.result);
  input.focus();
}

function showResults(slot, ctx, result) {
  const how = result.searched_as.map((k) => SEARCHED_AS[k] || k).join("、");
  slot.append(h("section", { class: "panel" }, h("p", { class: "muted" }, `按 ${how} 查找 Searched as: ${how}`),
    table([
      [bi("用户编号", "User id"), (u) => h("a", { href: `#/users/${u.id}`, class: "user-link" }, u.id)],
      [bi("手机（脱敏）", "Phone, masked"), (u) => u.phone || "—"],
      [bi("昵称（脱敏）", "Nickname, masked"), (u) => u.nickname || "—"],
      [bi("微信", "WeChat"), (u) => (u.has_wechat ? "✓" : "—")],
      [bi("状态", "Status"), (u) => statusBadge(u.status)],
      [bi("注册", "Joined"), (u) => when(u.created_at)],
    ], result.users, { onRow: (u) => ctx.navigate(`#/users/${u.id}`), rowKey: (u) => u.id,
                       empty: "没有找到用户 No user found" })));
}

async function renderUser(root, ctx) {
  const show = (detail) => { clear(root); drawUser(root, ctx, detail, show); };
  show(await get(`/users/${encodeURIComponent(ctx.id)}`));
}

function drawUser(root, ctx, detail, show) {
  const user = detail.user;
  root.append(h("div", { class: "crumbs" }, h("a", { href: "#/users" }, "← 查询 Search")));
  const actions = [];
  if (ctx.can("users.block")) {
    actions.push(user.blocked
      ? h("button", { type: "button", id: "unblock-button", onclick: () => changeBlock(ctx, user, "unblock", show) },
          ...bi("解除封禁", "Unblock"))
      : h("button", { type: "button", class: "danger", id: "block-button",
                      onclick: () => changeBlock(ctx, user, "block", show) }, ...bi("封禁", "Block")));
  }
  root.append(pageHead([bi("用户", "User"), " ", h("code", {}, user.id)], null, statusBadge(user.status), ...actions));
  root.append(h("p", { class: "audited" }, "此次查看已记入审计日志 This view is in the audit log (user.view)."));

  const field = (name, masked) => {
    const slot = h("span", { id: `field-${name}` }, masked || "—");
    if (masked && ctx.can("users.unmask")) {
      slot.append(" ", h("button", { type: "button", class: "link", id: `unmask-${name}`,
                                     onclick: () => unmask(ctx, user, name, slot) }, "显示 Unmask"));
    }
    return slot;
  };
  const c = user.counts;
  root.append(h("div", { class: "two-cols" },
    h("section", { class: "panel", id: "user-facts" }, h("h2", {}, ...bi("资料（脱敏）", "Profile, masked")), facts([
      [bi("手机", "Phone"), field("phone", user.phone)],
      [bi("昵称", "Nickname"), field("nickname", user.nickname)],
      [bi("微信登录", "WeChat login"), user.has_wechat ? "有 yes" : "无 no"],
      [bi("状态", "Status"), [statusBadge(user.status), user.blocked_reason ? ` ${user.blocked_reason}` : ""]],
      [bi("注册", "Joined"), when(user.created_at)],
      [bi("最近登录", "Last login"), when(user.last_login_at)],
    ])),
    h("section", { class: "panel", id: "user-counts" }, h("h2", {}, ...bi("数据概况", "What we hold")), facts([
      [bi("上传", "Uploads"), c.uploads], [bi("生成任务", "Jobs"), c.jobs], [bi("生成结果", "Results"), c.results],
      [bi("订单", "Orders"), c.orders], [bi("有效会话", "Active sessions"), c.active_sessions],
    ]))));
  root.append(h("section", { class: "panel", id: "user-orders" }, h("h2", {}, ...bi("最近订单", "Recent orders")), table([
    [bi("订单号", "Order"), (o) => (ctx.can("orders.read") ? h("a", { href: `#/orders/${o.order_no}` }, o.order_no)
                                                            : h("code", {}, o.order_no))],
    [bi("商品", "Product"), (o) => o.product],
    [bi("金额", "Amount"), (o) => yuan(o.amount_fen), "num"],
    [bi("状态", "Status"), (o) => statusBadge(o.status)],
    [bi("创建", "Created"), (o) => when(o.created_at)],
  ], detail.recent_orders, { rowKey: (o) => o.order_no, empty: "没有订单 No orders" })));
}

async function unmask(ctx, user, name, slot) {
  const shown = await formDialog({
    title: name === "phone" ? "显示完整手机号 Unmask the phone number" : "显示完整昵称 Unmask the nickname",
    intro: "只显示这一项，且连同原因记入审计日志。 Only this one field is shown; it and your reason are audit-logged.",
    fields: [reasonField()],
    submitLabel: "显示 Unmask",
    onSubmit: (values) => post(`/users/${user.id}/unmask`, { field: name, reason: values.reason }),
  });
  if (!shown) return;
  clear(slot).append(h("span", { class: "unmasked", "data-unmasked": name }, shown.value,
                       h("small", {}, "已记录 logged")));
}

async function changeBlock(ctx, user, action, show) {
  const blocking = action === "block";
  const detail = await formDialog({
    title: blocking ? "封禁用户 Block the user" : "解除封禁 Unblock the user",
    intro: blocking ? "该用户的所有会话立即失效，且无法再登录。 Every session of the user ends at once; logins are refused."
                    : "用户可以重新登录。 The user can log in again.",
    fields: [reasonField()],
    submitLabel: blocking ? "确认封禁 Block" : "解除封禁 Unblock",
    danger: blocking,
    onSubmit: (values) => post(`/users/${user.id}/${action}`, { reason: values.reason }),
  });
  if (detail) { ctx.toast(blocking ? "已封禁 Blocked" : "已解除封禁 Unblocked"); show(detail); }
}
