// Dashboard: queue depth and age per queue, job latency, the deletion backlog with its alert, rights requests and
// tickets waiting, and the alerts the server computed (the thresholds of docs/monitoring). Counts only: nothing
// personal, so this read is not audit-logged. It does not refresh by itself: a console left open must still
// reach the idle timeout.

import { get } from "../api.js";
import { bi, h, label, labelText, pageHead, seconds, table, when } from "../dom.js";

function card(label, value, sub, state = "", key = "") {
  return h("div", { class: `card ${state ? `state-${state}` : ""}`, "data-card": key },
           h("div", { class: "label" }, label), h("div", { class: "value" }, value), h("div", { class: "sub" }, sub));
}

function counts(byStatus) {
  const entries = Object.entries(byStatus || {});
  return entries.length ? entries.map(([status, n]) => `${labelText("job_statuses", status)} ${n}`).join(" · ") : "—";
}

export default async function render(root, ctx) {
  const refresh = h("button", { type: "button", id: "dashboard-refresh", onclick: () => ctx.refresh() },
                    ...bi("刷新", "Refresh"));
  root.append(pageHead(bi("仪表盘", "Dashboard"), `更新于 Updated ${when(new Date().toISOString())}`, refresh));
  const data = await get("/dashboard");
  const m = data.monitoring;
  const backlog = m.deletion_backlog;
  const rights = data.rights_requests;
  const queueAlerts = new Map(m.alerts.filter((a) => a.queue).map((a) => [a.queue, a]));

  root.append(h("div", { class: "alerts", id: "alerts" }, m.alerts.length
    ? m.alerts.map((a) => h("div", { class: "alert", "data-alert": a.name }, h("strong", {}, a.name), a.message))
    : h("div", { class: "okbox" }, ...bi("✓ 当前无告警", "No alerts"))));

  root.append(h("div", { class: "cards" },
    card(bi("待处理工单", "Open tickets"), data.tickets.open, `等待用户 waiting for user: ${data.tickets.waiting_user}`,
         data.tickets.open ? "warn" : "ok", "tickets"),
    card(bi("待处理权利请求", "Pending rights requests"), rights.pending,
         `已逾期 overdue: ${rights.overdue}`, rights.overdue ? "bad" : (rights.pending ? "warn" : "ok"), "rights"),
    card(bi("删除积压", "Deletion backlog"), backlog.count,
         `最久 oldest ${backlog.count ? seconds(backlog.oldest_age_s) : "无 none"} · ` +
         `阈值 threshold ${seconds(backlog.threshold_s)}` +
         (backlog.alert ? " · 告警 ALERT" : ""), backlog.alert ? "bad" : "ok", "backlog"),
    card(bi("任务延迟 p50 / p95", "Job latency"), `${seconds(m.jobs.latency_p50_s)} / ${seconds(m.jobs.latency_p95_s)}`,
         [`进行中 now: ${counts(m.jobs.in_progress)}`, h("br"), `最近一小时 last hour: ${counts(m.jobs.last_hour)}`],
         "", "latency")));

  const queues = Object.entries(m.queues).map(([name, q]) => ({ name, ...q }));
  root.append(h("section", { class: "panel", id: "queues" }, h("h2", {}, ...bi("队列", "Queues")),
    queues.length ? table([
      [bi("队列", "Queue"), (q) => h("code", {}, q.name)],
      [bi("排队数", "Depth"), (q) => q.depth, "num"],
      [bi("最久等待", "Oldest waiting"), (q) => seconds(q.oldest_age_s), "num"],
      [bi("失败", "Failed"), (q) => q.failed, "num"],
      [bi("状态", "State"), (q) => (queueAlerts.has(q.name)
        ? h("span", { class: "badge bad" }, "告警 alert") : h("span", { class: "badge ok" }, "正常 ok"))],
    ], queues) : h("div", { class: "empty" }, ...bi("队列数据不可用", "Queue figures unavailable"))));

  const kinds = Object.entries(backlog.by_kind || {}).map(([kind, r]) => ({ kind, ...r }));
  root.append(h("section", { class: "panel", id: "backlog" },
    h("h2", {}, ...bi("待删除照片（按类型）", "Deletion backlog by kind")),
    table([
      [bi("类型", "Kind"), (r) => label("data_kinds", r.kind)],
      [bi("数量", "Count"), (r) => r.count, "num"],
      [bi("最久逾期", "Oldest overdue"), (r) => seconds(r.oldest_age_s), "num"],
    ], kinds, { empty: "没有待删除的照片 Nothing waiting to be deleted" })));
}
