// Rights requests (policy §8: answered within 15 working days): the queue, most urgent first, overdue rows
// highlighted; process (delete the categories / cancel the account) or reject with the reason the person is
// told; and the form to file a request that came by email, phone or a support ticket.

import { get, post } from "../api.js";
import { bi, h, pageHead, RIGHTS_CATEGORIES, shortId, statusBadge, table, when } from "../dom.js";
import { formDialog, localError, reasonField } from "../dialogs.js";

const filters = { status: "pending", overdue: false };
const DELETABLE = ["results", "avatar", "uploads", "operation_logs", "devices"];
const CHANNELS = [["email", "邮件 email"], ["phone", "电话 phone"], ["ticket", "工单 ticket"]];

export default async function render(root, ctx) {
  const fileButton = ctx.can("rights.process")
    ? h("button", { type: "button", class: "primary", id: "rights-new", onclick: () => fileRequest(ctx) },
        ...bi("登记新请求", "File a request"))
    : null;
  root.append(pageHead(bi("权利请求", "Rights requests"),
                       "删除与注销请求，须在 15 个工作日内答复；按到期时间排序。 Deletion and cancellation requests, " +
                       "due in 15 working days; most urgent first.", fileButton));
  const status = h("select", { id: "rights-status" }, [["pending", "待处理 pending"], ["completed", "已完成 completed"],
    ["rejected", "已拒绝 rejected"]].map(([v, l]) => h("option", { value: v, selected: v === filters.status }, l)));
  const overdue = h("input", { type: "checkbox", id: "rights-overdue", checked: filters.overdue });
  const apply = () => { Object.assign(filters, { status: status.value, overdue: overdue.checked }); ctx.refresh(); };
  status.addEventListener("change", apply);
  overdue.addEventListener("change", apply);
  root.append(h("div", { class: "filters" }, h("label", { class: "field" }, ...bi("状态", "Status"), status),
                h("label", { class: "checks" }, overdue, ...bi("只看逾期", "Overdue only"))));

  const data = await get("/rights-requests", filters);
  const columns = [
    [bi("到期", "Due"), (r) => [r.due_date, r.overdue ? [" ", h("span", { class: "badge bad" }, "已逾期 OVERDUE")] : null]],
    [bi("剩余工作日", "Working days left"), (r) => (r.days_left ?? "—"), "num"],
    [bi("类型", "Kind"), (r) => (r.kind === "cancellation" ? "注销账户 cancellation" : "删除 deletion")],
    [bi("范围", "Categories"), (r) => r.categories.map((c) => RIGHTS_CATEGORIES[c] || c).join("、")],
    [bi("用户", "User"), (r) => (r.user_id
      ? (ctx.can("users.read") ? h("a", { href: `#/users/${r.user_id}` }, shortId(r.user_id)) : h("code", {}, shortId(r.user_id)))
      : "已注销 gone")],
    [bi("渠道", "Channel"), (r) => [r.channel, r.ticket_id ? [" ", h("a", { href: `#/tickets/${r.ticket_id}` },
                                                                        shortId(r.ticket_id))] : null]],
    [bi("备注", "Note"), (r) => r.note || "—"],
    [bi("状态", "Status"), (r) => [statusBadge(r.status), r.rejected_reason ? [" ", r.rejected_reason] : null,
                                   r.completed_at ? h("div", { class: "muted" }, when(r.completed_at)) : null]],
  ];
  if (ctx.can("rights.process")) {
    columns.push([bi("操作", "Action"), (r) => (r.status === "pending" ? h("div", { class: "actions" },
      h("button", { type: "button", class: "small primary", "data-action": "process", onclick: () => processRequest(ctx, r) },
        ...bi("执行", "Process")),
      h("button", { type: "button", class: "small", "data-action": "reject", onclick: () => rejectRequest(ctx, r) },
        ...bi("拒绝", "Reject"))) : "—")]);
  }
  root.append(h("section", { class: "panel", id: "rights-queue" }, table(columns, data.requests, {
    rowClass: (r) => (r.overdue ? "overdue" : ""), rowKey: (r) => r.id, empty: "队列为空 The queue is empty" })));
}

async function processRequest(ctx, request) {
  const what = request.kind === "cancellation"
    ? "注销该用户账户并删除其全部数据（订单按法律去标识化保留）。 Cancel the account and delete all its data " +
      "(orders are kept pseudonymised, as the law requires)."
    : `删除：${request.categories.map((c) => RIGHTS_CATEGORIES[c] || c).join("、")}。 Delete these categories ` +
      "(deletion receipts are issued).";
  const done = await formDialog({
    title: "执行请求 Process the request",
    intro: [what, h("br"), "此操作不可撤销，并记入审计日志。 This cannot be undone and is audit-logged."],
    submitLabel: "确认执行 Process",
    danger: true,
    onSubmit: () => post(`/rights-requests/${request.id}/process`),
  });
  if (done) {
    ctx.toast(`请求已${done.status === "completed" ? "完成" : done.status} Request ${done.status}`);
    ctx.refresh();
  }
}

async function rejectRequest(ctx, request) {
  const done = await formDialog({
    title: "拒绝请求 Reject the request",
    intro: "原因会告知提出请求的人。 The person who asked is told this reason.",
    fields: [reasonField(bi("拒绝原因", "Reason"), { minlength: 5 })],
    submitLabel: "确认拒绝 Reject",
    danger: true,
    onSubmit: (values) => post(`/rights-requests/${request.id}/reject`, { reason: values.reason }),
  });
  if (done) { ctx.toast("请求已拒绝 Request rejected"); ctx.refresh(); }
}

async function fileRequest(ctx) {
  const done = await formDialog({
    title: "登记权利请求 File a rights request",
    intro: "用于通过邮件、电话或工单收到、且已核实身份的请求。 For requests received by email, phone or ticket, " +
           "after verifying who is asking.",
    fields: [
      { name: "user_public_id", label: bi("用户编号", "User id"), required: true, maxlength: 32 },
      { name: "kind", label: bi("类型", "Kind"), type: "select", value: "deletion",
        options: [["deletion", "删除部分数据 deletion"], ["cancellation", "注销账户 cancellation"]] },
      { name: "categories", label: bi("删除范围（仅删除请求）", "Categories, deletion only"), type: "checkboxes",
        options: DELETABLE.map((c) => [c, RIGHTS_CATEGORIES[c]]) },
      { name: "channel", label: bi("渠道", "Channel"), type: "select", value: "email", options: CHANNELS },
      { name: "ticket_id", label: bi("工单编号（渠道为工单时必填）", "Ticket id, for the ticket channel"), maxlength: 32 },
      { name: "note", label: bi("备注：如何核实身份、请求内容", "Note: how identity was verified, what was asked"),
        type: "textarea", maxlength: 1000 },
    ],
    submitLabel: "登记 File",
    onSubmit: (values) => {
      if (values.kind === "deletion" && !values.categories.length) {
        throw localError("categories_required", "请选择要删除的范围 Choose what to delete.");
      }
      return post("/rights-requests", {
        user_public_id: values.user_public_id, kind: values.kind,
        categories: values.kind === "deletion" ? values.categories : [], channel: values.channel,
        ticket_id: values.ticket_id || null, note: values.note || null });
    },
  });
  if (done) { ctx.toast("请求已登记 Request filed"); ctx.refresh(); }
}
