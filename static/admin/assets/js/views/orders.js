// Orders: the list (filter by status and date, paging), one order with its events and refunds and the buyer
// masked (an audit-logged read), and — only for staff holding orders.refund — the refund form. A refund is
// submitted to WeChat Pay by a job; while one is in flight the page re-reads the order until it settles.

import { get, post } from "../api.js";
import {
  bi, clear, facts, h, label, localInputToIso, options, pageHead, shortId, statusBadge, table, when, yuan,
} from "../dom.js";
import { formDialog, localError } from "../dialogs.js";

const STATUSES = [["", "全部状态 any status"], ["created", "待支付 created"], ["paid", "已支付 paid"],
                  ["fulfilled", "已交付 fulfilled"], ["refunding", "退款中 refunding"],
                  ["partially_refunded", "部分退款 partially refunded"], ["refunded", "已退款 refunded"],
                  ["closed", "已关闭 closed"]];
const IN_FLIGHT = new Set(["requested", "processing"]);
const POLL_MS = 2500; // each read is an audited order.view: ask calmly
const POLL_LIMIT_MS = 3 * 60 * 1000;
const filters = { status: "", since: "" };
const pages = [];

export default async function render(root, ctx) {
  return ctx.id ? renderDetail(root, ctx) : renderList(root, ctx);
}

async function renderList(root, ctx) {
  root.append(pageHead(bi("订单与退款", "Orders and refunds"), "最新的在前。 Newest first."));
  const status = options(h("select", { id: "order-status" }), STATUSES, filters.status);
  const since = h("input", { type: "datetime-local", id: "order-since", value: filters.since || null });
  const apply = () => {
    Object.assign(filters, { status: status.value, since: since.value });
    pages.length = 0;
    ctx.refresh();
  };
  status.addEventListener("change", apply);
  since.addEventListener("change", apply);
  root.append(h("div", { class: "filters" }, h("label", { class: "field" }, ...bi("状态", "Status"), status),
                h("label", { class: "field" }, ...bi("创建于此后", "Created since"), since)));
  const data = await get("/orders", { status: filters.status, since: localInputToIso(filters.since),
                                      cursor: pages[pages.length - 1] });
  const panel = h("section", { class: "panel", id: "order-list" }, table([
    [bi("订单号", "Order"), (o) => h("a", { href: `#/orders/${o.order_no}`, class: "order-link" }, o.order_no)],
    [bi("商品", "Product"), (o) => label("products", o.product)],
    [bi("金额", "Amount"), (o) => yuan(o.amount_fen), "num"],
    [bi("已退", "Refunded"), (o) => (o.refunded_fen ? yuan(o.refunded_fen) : "—"), "num"],
    [bi("状态", "Status"), (o) => statusBadge(o.status)],
    [bi("创建", "Created"), (o) => when(o.created_at)],
    [bi("支付", "Paid"), (o) => when(o.paid_at)],
    [bi("买家", "Buyer"), (o) => (o.buyer_id ? h("code", {}, shortId(o.buyer_id)) : "—")],
  ], data.orders, { onRow: (o) => ctx.navigate(`#/orders/${o.order_no}`), rowKey: (o) => o.order_no, empty: "没有订单 No orders" }));
  panel.append(h("div", { class: "pager" },
    pages.length ? h("button", { type: "button", onclick: () => { pages.pop(); ctx.refresh(); } }, "← 较新 Newer") : null,
    data.next_cursor ? h("button", { type: "button", onclick: () => { pages.push(data.next_cursor); ctx.refresh(); } },
                            "较早 Older →") : null));
  root.append(panel);
}

async function renderDetail(root, ctx) {
  const started = Date.now();
  let order = await get(`/orders/${encodeURIComponent(ctx.id)}`);
  const show = (updated) => { order = updated; clear(root); drawDetail(root, ctx, order, show); schedule(); };
  const schedule = () => {
    if (!order.refunds.some((r) => IN_FLIGHT.has(r.status)) || Date.now() - started > POLL_LIMIT_MS) return;
    setTimeout(async () => {
      if (!root.isConnected) return; // the staff member went elsewhere: stop asking
      try { show(await get(`/orders/${encodeURIComponent(order.order_no)}`)); } catch { /* shown on next visit */ }
    }, POLL_MS);
  };
  show(order);
}

function drawDetail(root, ctx, order, show) {
  const ticketId = ctx.params.get("ticket");
  root.append(h("div", { class: "crumbs" }, ticketId
    ? h("a", { href: `#/tickets/${ticketId}` }, "← 返回工单 Back to the ticket")
    : h("a", { href: "#/orders" }, "← 订单列表 All orders")));
  const refundButton = ctx.can("orders.refund") && order.refundable_fen > 0
    ? h("button", { type: "button", class: "danger", id: "refund-button",
                    onclick: () => openRefund(ctx, order, ticketId, show) }, ...bi("退款", "Refund"))
    : null;
  root.append(pageHead([h("span", { id: "order-no" }, order.order_no), " ", statusBadge(order.status)], order.item,
                       refundButton));
  root.append(h("p", { class: "audited" }, "此次查看已记入审计日志 This view is in the audit log (order.view)."));

  const buyer = order.buyer;
  const main = h("section", { class: "panel", id: "order-facts" }, h("h2", {}, ...bi("订单", "Order")), facts([
    [bi("商品", "Item"), `${order.item} (${order.product})`],
    order.subject ? [bi("对象", "Subject"), h("code", {}, order.subject)] : null,
    [bi("金额", "Amount"), `${yuan(order.amount_fen)} ${order.currency}`],
    [bi("已退款", "Refunded"), h("span", { id: "refunded-fen" }, yuan(order.refunded_fen))],
    [bi("可退款", "Refundable"), h("span", { id: "refundable-fen" }, yuan(order.refundable_fen))],
    [bi("退款期限", "Refund window ends"), when(order.refund_window_ends_at)],
    [bi("支付方式", "Payment"), order.payment_method],
    [bi("微信支付单号", "Transaction"), order.transaction_id ? h("code", {}, order.transaction_id) : null],
    [bi("创建 / 支付", "Created / paid"), `${when(order.created_at)} / ${when(order.paid_at)}`],
    [bi("交付 / 关闭", "Fulfilled / closed"), `${when(order.fulfilled_at)} / ${when(order.closed_at)}`],
  ]));
  const buyerPanel = h("section", { class: "panel", id: "order-buyer" }, h("h2", {}, ...bi("买家（脱敏）", "Buyer, masked")),
    buyer ? facts([
      [bi("用户", "User"), ctx.can("users.read") ? h("a", { href: `#/users/${buyer.id}` }, buyer.id) : h("code", {}, buyer.id)],
      [bi("手机", "Phone"), buyer.phone], [bi("昵称", "Nickname"), buyer.nickname], [bi("状态", "Status"), statusBadge(buyer.status)],
    ]) : h("p", { class: "muted" }, "账户已注销，订单按法律要求去标识化保存。 The account was cancelled; the order is kept pseudonymised."));
  root.append(h("div", { class: "two-cols" }, main, buyerPanel));

  root.append(h("section", { class: "panel", id: "refunds" }, h("h2", {}, ...bi("退款", "Refunds")), table([
    [bi("退款单号", "Refund"), (r) => h("code", {}, r.refund_no)],
    [bi("金额", "Amount"), (r) => yuan(r.amount_fen), "num"],
    [bi("原因", "Reason"), (r) => r.reason],
    [bi("状态", "Status"), (r) => statusBadge(r.status)],
    [bi("提交", "Requested"), (r) => when(r.created_at)],
    [bi("完成", "Finished"), (r) => when(r.finished_at)],
  ], order.refunds, { rowKey: (r) => r.refund_no, empty: "没有退款 No refunds" })));

  root.append(h("section", { class: "panel", id: "events" }, h("h2", {}, ...bi("状态变化", "Events")), table([
    [bi("时间", "At"), (e) => when(e.at)],
    [bi("从", "From"), (e) => (e.from_status ? statusBadge(e.from_status) : "—")],
    [bi("到", "To"), (e) => statusBadge(e.to_status)],
    [bi("原因", "Cause"), (e) => h("code", {}, e.cause)],
  ], order.events)));
}

function openRefund(ctx, order, ticketId, show) {
  const most = (order.refundable_fen / 100).toFixed(2);
  return formDialog({
    title: `退款 Refund ${order.order_no}`,
    intro: `退款将通过微信支付原路退回，最多 ${most} 元；该订单授予的权益将被收回。 ` +
           `The money goes back through WeChat Pay (at most ¥${most}); what the order granted is revoked.`,
    fields: [
      { name: "amount", label: bi("金额（元）", "Amount, yuan"), type: "number", value: most, min: "0.01", max: most,
        step: "0.01", required: true },
      { name: "reason", label: bi("原因（发送给微信支付并记入审计日志）", "Reason, sent to WeChat Pay and audit-logged"),
        type: "text", minlength: 5, maxlength: 48, required: true },
      { name: "ticket_id", label: bi("关联工单（可选）", "Support ticket, optional"), value: ticketId || "", maxlength: 32 },
    ],
    submitLabel: "确认退款 Refund",
    danger: true,
    onSubmit: async (values) => {
      const fen = Math.round(Number(values.amount) * 100);
      if (!Number.isFinite(fen) || fen < 1 || fen > order.refundable_fen) {
        throw localError("invalid_amount", `金额须在 0.01 与 ${most} 之间 The amount must be between 0.01 and ${most}.`);
      }
      const updated = await post(`/orders/${encodeURIComponent(order.order_no)}/refund`, {
        amount_fen: fen, reason: values.reason, ticket_id: values.ticket_id || null });
      ctx.toast("退款已提交 Refund submitted");
      show(updated);
    },
  });
}
