// Notices to users (policy §6, §7; docs/incident-response.md): security incidents, company transfer, shutdown.
// Write one (a draft), choose whom it concerns, then send it: the workers tell each person in the app, by WeChat
// where they allowed it, otherwise by SMS. A notice is sent once; sending again resumes an interrupted sending.

import { get, post } from "../api.js";
import { bi, h, localInputToIso, pageHead, shortId, statusBadge, table, when } from "../dom.js";
import { formDialog, localError } from "../dialogs.js";

const KINDS = [["incident", "安全事件 incident"], ["company_transfer", "公司合并/转让 company transfer"],
  ["shutdown", "停止运营 shutdown"], ["service", "其他法定通知 other"]];
const AUDIENCES = [["all", "全部用户 everyone"], ["data_class", "某时段持有某类数据的用户 holders of a data class"],
  ["users", "指定用户 listed users"]];
const DATA_CLASSES = [["uploads", "上传照片 uploads"], ["results", "生成结果 results"], ["orders", "订单 orders"],
  ["phone", "手机号 phone"]];
const label = (entries, value) => (entries.find(([v]) => v === value) || [value, value])[1];

export default async function render(root, ctx) {
  const newButton = h("button", { type: "button", class: "primary", id: "notice-new", onclick: () => write(ctx) },
                      ...bi("撰写通知", "Write a notice"));
  root.append(pageHead(bi("用户通知", "Notices"),
                       "发送前请按《事件响应预案》确认内容与范围；每条通知只发送一次。 Check the incident runbook " +
                       "before sending; each notice is sent once.", newButton));
  const data = await get("/notices");
  const columns = [
    [bi("创建", "Written"), (n) => when(n.created_at)],
    [bi("类型", "Kind"), (n) => label(KINDS, n.kind)],
    [bi("标题", "Title"), (n) => n.title],
    [bi("范围", "Audience"), (n) => (n.audience === "data_class"
      ? `${label(DATA_CLASSES, n.data_class)} ${when(n.window_start)} – ${when(n.window_end)}`
      : n.audience === "users" ? `${n.user_ids.length} 位指定用户 listed` : label(AUDIENCES, n.audience))],
    [bi("状态", "Status"), (n) => statusBadge(n.status)],
    [bi("进度", "Progress"), (n) => (n.status === "draft" ? "—"
      : `${n.done}/${n.recipients} · 微信 WeChat ${n.wechat_sent} · 短信 SMS ${n.sms_sent}`), "num"],
    [bi("操作", "Action"), (n) => (n.status === "sent" ? h("span", { class: "muted" }, when(n.finished_at))
      : h("button", { type: "button", class: "small primary", "data-action": "send", onclick: () => send(ctx, n) },
          ...(n.status === "draft" ? bi("发送", "Send") : bi("继续发送", "Resume"))))],
  ];
  root.append(h("section", { class: "panel", id: "notices-list" }, table(columns, data.notices, {
    rowKey: (n) => n.id, empty: "还没有通知 No notices yet" })));
}

async function write(ctx) {
  const done = await formDialog({
    title: "撰写通知 Write a notice",
    intro: "保存为草稿，确认后再发送。时间按北京时间填写。 Saved as a draft; send it after checking. Times are " +
           "Beijing time.",
    fields: [
      { name: "kind", label: bi("类型", "Kind"), type: "select", value: "incident", options: KINDS },
      { name: "title", label: bi("标题", "Title"), required: true, maxlength: 40 },
      { name: "body", label: bi("正文：发生了什么、涉及哪些信息、我们做了什么、您可以做什么、联系方式",
                                "Text: what happened, which data, what we did, what you can do, whom to contact"),
        type: "textarea", required: true, maxlength: 2000 },
      { name: "audience", label: bi("通知范围", "Audience"), type: "select", value: "all", options: AUDIENCES },
      { name: "data_class", label: bi("数据类别（按数据类别时）", "Data class"), type: "select", value: "uploads",
        options: DATA_CLASSES },
      { name: "window_start", label: bi("时段开始（北京时间）", "Window start, Beijing time"), type: "datetime-local" },
      { name: "window_end", label: bi("时段结束（北京时间）", "Window end, Beijing time"), type: "datetime-local" },
      { name: "user_ids", label: bi("用户编号（指定用户时，每行一个）", "User ids, one per line"), type: "textarea",
        maxlength: 40000 },
    ],
    submitLabel: "保存草稿 Save draft",
    onSubmit: (values) => {
      const body = { kind: values.kind, title: values.title, body: values.body, audience: values.audience };
      if (values.audience === "data_class") {
        if (!values.window_start || !values.window_end) {
          throw localError("window_required", "请填写时段 Give the time window.");
        }
        Object.assign(body, { data_class: values.data_class, window_start: localInputToIso(values.window_start),
                              window_end: localInputToIso(values.window_end) });
      }
      if (values.audience === "users") body.user_ids = values.user_ids.split(/\s+/).filter(Boolean);
      return post("/notices", body);
    },
  });
  if (done) { ctx.toast(`草稿已保存 Draft saved (${shortId(done.id)})`); ctx.refresh(); }
}

async function send(ctx, notice) {
  const done = await formDialog({
    title: notice.status === "draft" ? "发送通知 Send the notice" : "继续发送 Resume sending",
    intro: [h("strong", {}, notice.title), h("br"), notice.body, h("br"), h("br"),
            "将在小程序内通知每位相关用户，并按其授权发送微信订阅消息，否则发送短信。每人只会收到一次，操作记入审计日志。 " +
            "Everyone concerned is told in the app, by WeChat where they allowed it, otherwise by SMS; nobody is " +
            "told twice. Audit-logged."],
    submitLabel: "确认发送 Send",
    danger: true,
    onSubmit: () => post(`/notices/${notice.id}/send`),
  });
  if (done) { ctx.toast("通知发送中 Sending"); ctx.refresh(); }
}
