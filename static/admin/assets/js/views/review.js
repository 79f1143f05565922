// Periodic access review (auditors, policy §7): every staff account with its roles and last use, the last review
// and when the next is due; a form records a review (what changed, or "no changes"). Recording is audit-logged and
// stores the list as it was seen; an alert fires when the last review is older than the configured period.

import { get, post } from "../api.js";
import { bi, errorBox, h, pageHead, ROLES, table, when } from "../dom.js";

export default async function render(root, ctx) {
  root.append(pageHead(bi("权限复核", "Access review"), "定期复核每个员工账户的角色和最近使用。 Review every staff " +
                       "account's roles and last use, then record what changed."));
  const data = await get("/access-review");
  const last = data.last_review;
  root.append(h("div", { id: "review-status", class: data.overdue ? "alert" : "okbox",
                         "data-overdue": String(data.overdue) },
    last ? `上次复核 Last review: ${when(last.reviewed_at)} · ${last.reviewer} · ` +
           `下次截止 next due ${when(data.due_at)} (${data.period_days} 天 days)`
         : `尚未复核 No review recorded yet (每 every ${data.period_days} 天 days).`));
  root.append(h("section", { class: "panel", id: "review-accounts" }, table([
    [bi("用户名", "Username"), (s) => h("strong", {}, s.username)],
    [bi("角色", "Roles"), (s) => h("div", { class: "chips" }, s.roles.map((r) => h("span", { class: "chip" }, ROLES[r] || r)))],
    [bi("状态", "State"), (s) => (s.disabled ? h("span", { class: "badge bad" }, "已停用 disabled")
                                              : h("span", { class: "badge ok" }, "正常 active"))],
    [bi("二次验证", "TOTP"), (s) => (s.totp_enabled ? "✓" : "—")],
    [bi("最近使用", "Last use"), (s) => (s.last_used_at ? when(s.last_used_at) : "从未 never"), "nowrap"],
    [bi("创建", "Created"), (s) => when(s.created_at), "nowrap"],
  ], data.staff, { rowKey: (s) => s.username })));

  const changes = h("textarea", { id: "review-changes", name: "changes", required: true, minlength: 2,
                                  maxlength: 2000, rows: 3, placeholder: "no changes / removed finance from …" });
  const feedback = h("div", { id: "review-feedback" });
  const form = h("form", { class: "panel", id: "review-form" },
    h("label", { class: "field" }, ...bi("本次复核的变更", "What this review changed"), changes),
    h("button", { type: "submit", class: "primary", id: "review-submit" }, ...bi("记录复核", "Record the review")),
    feedback);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    feedback.replaceChildren();
    try {
      const review = await post("/access-review", { changes: changes.value.trim() });
      ctx.toast(`已记录复核 Review recorded (#${review.id})`);
      ctx.refresh();
    } catch (error) {
      feedback.append(errorBox(error));
    }
  });
  root.append(form);

  root.append(h("section", { class: "panel", id: "review-history" }, h("h2", {}, ...bi("复核记录", "Past reviews")),
    table([
      ["#", (r) => r.id, "num"],
      [bi("时间", "Time"), (r) => when(r.reviewed_at), "nowrap"],
      [bi("复核人", "Reviewer"), (r) => r.reviewer],
      [bi("账户数", "Accounts"), (r) => r.accounts_reviewed, "num"],
      [bi("变更", "Changes"), (r) => r.changes],
    ], data.reviews, { rowKey: (r) => String(r.id), empty: "尚无记录 None yet" })));
}
