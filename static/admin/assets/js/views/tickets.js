// Tickets: the triage list (masked subjects and phones, no message bodies) with filters and paging, and one
// ticket's thread (an audit-logged read) with reply, status change, assignment and the linked order.

import { get, post } from "../api.js";
import {
  append, bi, clear, errorBox, facts, h, options, pageHead, shortId, statusBadge, table, TICKET_CATEGORIES, when, yuan,
} from "../dom.js";

const STATUSES = [["", "全部状态 any status"], ["open", "待处理 open"], ["waiting_user", "等待用户 waiting for user"],
                  ["resolved", "已解决 resolved"], ["closed", "已关闭 closed"]];
const filters = { status: "open", category: "", assigned: "" };
const pages = []; // the cursor of each page shown after the first

export default async function render(root, ctx) {
  return ctx.id ? renderThread(root, ctx) : renderList(root, ctx);
}

async function renderList(root, ctx) {
  root.append(pageHead(bi("工单", "Support tickets"), "列表中的主题与手机号已脱敏；打开工单会记入审计日志。 " +
                       "Subjects and phones are masked here; opening a ticket is audit-logged."));
  const status = options(h("select", { id: "ticket-status" }), STATUSES, filters.status);
  const category = options(h("select", { id: "ticket-category" }),
                           [["", "全部类别 any category"], ...Object.entries(TICKET_CATEGORIES)], filters.category);
  const assigned = options(h("select", { id: "ticket-assigned" }),
                           [["", "全部 anyone"], ["me", "指派给我 mine"], ["none", "未指派 unassigned"]], filters.assigned);
  const apply = () => {
    Object.assign(filters, { status: status.value, category: category.value, assigned: assigned.value });
    pages.length = 0;
    ctx.refresh();
  };
  for (const select of [status, category, assigned]) select.addEventListener("change", apply);
  root.append(h("div", { class: "filters" },
    h("label", { class: "field" }, ...bi("状态", "Status"), status),
    h("label", { class: "field" }, ...bi("类别", "Category"), category),
    h("label", { class: "field" }, ...bi("处理人", "Assigned"), assigned)));

  const data = await get("/tickets", { ...filters, cursor: pages[pages.length - 1] });
  const panel = h("section", { class: "panel", id: "ticket-list" }, table([
    [bi("创建", "Created"), (t) => when(t.created_at), "nowrap"],
    [bi("类别", "Category"), (t) => TICKET_CATEGORIES[t.category] || t.category],
    [bi("主题", "Subject"), (t) => h("a", { href: `#/tickets/${t.id}`, class: "ticket-link" }, t.subject || "—")],
    [bi("状态", "Status"), (t) => statusBadge(t.status)],
    [bi("用户", "User"), (t) => [h("code", {}, shortId(t.user.id)), " ", t.user.phone || ""]],
    [bi("订单", "Order"), (t) => (t.order ? [h("code", {}, t.order.order_no), " ", statusBadge(t.order.status)] : "—")],
    [bi("处理人", "Assigned"), (t) => t.assigned_to || "—"],
    [bi("消息", "Msgs"), (t) => t.message_count, "num"],
    [bi("更新", "Updated"), (t) => when(t.updated_at), "nowrap"],
  ], data.tickets, { onRow: (t) => ctx.navigate(`#/tickets/${t.id}`), rowKey: (t) => t.id, empty: "没有符合条件的工单 No tickets" }));
  panel.append(pager(data.next_cursor, ctx));
  root.append(panel);
}

function pager(nextBeforeId, ctx) {
  return h("div", { class: "pager" },
    pages.length ? h("button", { type: "button", onclick: () => { pages.pop(); ctx.refresh(); } }, "← 较新 Newer") : null,
    nextBeforeId ? h("button", { type: "button", onclick: () => { pages.push(nextBeforeId); ctx.refresh(); } },
                     "较早 Older →") : null);
}

async function renderThread(root, ctx) {
  const ticket = await get(`/tickets/${encodeURIComponent(ctx.id)}`);
  const show = (updated) => { clear(root); drawThread(root, ctx, updated, show); };
  drawThread(root, ctx, ticket, show);
}

function drawThread(root, ctx, ticket, show) {
  root.append(h("div", { class: "crumbs" }, h("a", { href: "#/tickets" }, "← 工单列表 All tickets")));
  root.append(pageHead(ticket.subject, null, statusBadge(ticket.status)));
  root.append(h("p", { class: "audited" }, "此次查看已记入审计日志 This view is in the audit log (ticket.view)."));

  const order = ticket.order;
  const orderCell = order ? h("span", {},
    ctx.can("orders.read")
      ? h("a", { href: `#/orders/${encodeURIComponent(order.order_no)}?ticket=${ticket.id}`, id: "ticket-order-link" },
          order.order_no)
      : h("code", {}, order.order_no),
    ` · ${yuan(order.amount_fen)} · `, statusBadge(order.status),
    order.refunded_fen ? ` · 已退 refunded ${yuan(order.refunded_fen)}` : "") : null;

  const side = h("section", { class: "panel" }, h("h2", {}, ...bi("工单信息", "Ticket")), facts([
    [bi("编号", "Id"), h("code", {}, ticket.id)],
    [bi("类别", "Category"), TICKET_CATEGORIES[ticket.category] || ticket.category],
    [bi("用户", "User"), [ctx.can("users.read") ? h("a", { href: `#/users/${ticket.user.id}` }, shortId(ticket.user.id))
                                               : h("code", {}, shortId(ticket.user.id)), " ", ticket.user.phone || ""]],
    [bi("关联订单", "Order"), orderCell],
    [bi("关联任务", "Job"), ticket.job ? `${shortId(ticket.job.id)} · ${ticket.job.style} · ${ticket.job.status}` : null],
    [bi("处理人", "Assigned"), ticket.assigned_to],
    [bi("创建", "Created"), when(ticket.created_at)],
    [bi("解决", "Resolved"), ticket.resolved_at ? when(ticket.resolved_at) : null],
  ]));
  if (ctx.can("tickets.write")) side.append(manageForm(ctx, ticket, show));

  const thread = h("div", { class: "thread", id: "thread" }, ticket.messages.map((m) => h("div", {
    class: `msg ${m.author}`, "data-author": m.author },
    h("span", { class: "meta" }, m.author === "staff" ? `客服 ${m.staff || "staff"}` : "用户 user", " · ",
      when(m.created_at)),
    m.body)));
  const main = h("section", { class: "panel" }, h("h2", {}, ...bi("对话", "Thread")), thread);
  if (ctx.can("tickets.write")) main.append(replyForm(ctx, ticket, show));
  root.append(h("div", { class: "two-cols" }, main, side));
}

function replyForm(ctx, ticket, show) {
  const body = h("textarea", { id: "reply-body", maxlength: 2000, required: true,
                               placeholder: "回复用户… Reply to the user (they see it in the mini-program)" });
  const errors = h("div");
  const send = h("button", { type: "submit", class: "primary", id: "reply-send" }, ...bi("发送回复", "Send reply"));
  const form = h("form", { class: "form-grid", id: "reply-form" }, body, errors, h("div", { class: "actions" }, send));
  if (ticket.status === "closed") send.disabled = true;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(errors);
    send.disabled = true;
    try {
      const updated = await post(`/tickets/${ticket.id}/messages`, { body: body.value });
      ctx.toast("回复已发送 Reply sent");
      show(updated);
    } catch (error) {
      append(errors, [errorBox(error)]);
      send.disabled = false;
    }
  });
  return form;
}

function manageForm(ctx, ticket, show) {
  const errors = h("div");
  const status = options(h("select", { id: "status-select" }), STATUSES.slice(1), ticket.status);
  const note = h("input", { id: "status-note", maxlength: 500, placeholder: "备注（不含个人信息） note, no personal data" });
  const act = async (call, message) => {
    clear(errors);
    try {
      const updated = await call();
      ctx.toast(message);
      show(updated);
    } catch (error) {
      append(errors, [errorBox(error)]);
    }
  };
  const mine = ticket.assigned_to === ctx.staff.username;
  return h("div", { class: "form-grid manage" }, h("h3", {}, ...bi("处理", "Handle")),
    h("div", { class: "form-row" }, h("label", { class: "field" }, ...bi("状态", "Status"), status),
      h("label", { class: "field" }, ...bi("备注", "Note"), note),
      h("button", { type: "button", id: "status-save", onclick: () => act(
        () => post(`/tickets/${ticket.id}/status`, { status: status.value, note: note.value.trim() || null }),
        "状态已更新 Status changed") }, ...bi("更新状态", "Set status"))),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "assign-toggle", onclick: () => act(
        () => post(`/tickets/${ticket.id}/assign`, { username: mine ? null : ctx.staff.username }),
        mine ? "已取消指派 Unassigned" : "已指派给你 Assigned to you") },
        mine ? "取消指派 Unassign" : "指派给我 Assign to me")),
    errors);
}
