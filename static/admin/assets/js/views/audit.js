// Audit log (auditors): search by staff, action (exact, or a prefix ending in "."), target and time; newest first,
// paged with cursor; and the hash chain's verification (each entry hashes the previous one), shown on arrival.
// The log is read-only here as everywhere: no endpoint edits or deletes an entry.

import { get } from "../api.js";
import { append, bi, clear, errorBox, h, localInputToIso, pageHead, shortId, table, when } from "../dom.js";

const filters = { staff: "", action: "", target_type: "", target_id: "", since: "", until: "", limit: "50" };
const pages = [];

export default async function render(root, ctx) {
  const verifyButton = h("button", { type: "button", id: "audit-verify", onclick: () => ctx.refresh() },
                        ...bi("重新验证哈希链", "Verify the chain"));
  root.append(pageHead(bi("审计日志", "Audit log"), "只读、防篡改：每条记录包含前一条的哈希。 Append-only and " +
                       "tamper-evident: each entry hashes the previous one.", verifyButton));
  const chain = h("div", { id: "chain-status", class: "chain-status" });
  root.append(chain);
  let brokenId = null;
  const verify = async () => {
    clear(chain).append(h("div", { class: "muted" }, "正在验证… Verifying…"));
    try {
      const status = await get("/audit/verify");
      brokenId = status.ok ? null : status.first_broken_id;
      clear(chain).append(status.ok
        ? h("div", { class: "okbox", "data-chain": "ok" }, `✓ 哈希链完整 Chain intact: ${status.checked} 条已验证 entries ` +
            `checked${status.last_id ? `, 最新 last #${status.last_id}` : ""}.`)
        : h("div", { class: "alert", "data-chain": "broken" }, h("strong", {}, "✗ 哈希链断裂 Chain broken"),
            `第一个异常条目 first broken entry #${status.first_broken_id}: ${status.problem || ""} ` +
            `(${status.checked} checked)`));
    } catch (error) {
      clear(chain).append(errorBox(error));
    }
  };

  const inputs = {};
  const input = (name, label, attrs = {}) => {
    inputs[name] = h("input", { id: `audit-${name}`, value: filters[name] || null, ...attrs });
    return h("label", { class: "field" }, ...label, inputs[name]);
  };
  const form = h("form", { class: "filters", id: "audit-filters" },
    input("staff", bi("员工", "Staff"), { maxlength: 64, placeholder: "username" }),
    input("action", bi("操作", "Action"), { maxlength: 64, placeholder: "user.unmask / order." }),
    input("target_type", bi("对象类型", "Target type"), { maxlength: 32, placeholder: "user / order / ticket" }),
    input("target_id", bi("对象编号", "Target id"), { maxlength: 128 }),
    input("since", bi("起", "Since"), { type: "datetime-local" }),
    input("until", bi("止", "Until"), { type: "datetime-local" }),
    input("limit", bi("每页", "Per page"), { type: "number", min: 1, max: 100 }),
    h("button", { type: "submit", class: "primary" }, ...bi("搜索", "Search")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    for (const [name, element] of Object.entries(inputs)) filters[name] = element.value.trim();
    pages.length = 0;
    ctx.refresh();
  });
  root.append(form);

  const results = h("section", { class: "panel", id: "audit-entries" });
  root.append(results);
  await verify(); // one audited request at a time: each appends to the same hash chain
  try {
    const page = await get("/audit", {
      ...filters, since: localInputToIso(filters.since), until: localInputToIso(filters.until),
      cursor: pages[pages.length - 1] });
    results.append(table([
      ["#", (e) => e.id, "num"],
      [bi("时间", "Time"), (e) => when(e.created_at), "nowrap"],
      [bi("员工", "Staff"), (e) => [e.staff_username, h("div", { class: "chips" }, e.roles.map((r) => h("span", { class: "chip" }, r)))]],
      [bi("操作", "Action"), (e) => h("code", {}, e.action)],
      [bi("对象", "Target"), (e) => [e.target_type, e.target_id ? [" ", h("code", {}, e.target_id)] : null]],
      [bi("原因", "Reason"), (e) => e.reason || "—"],
      [bi("请求 / IP", "Request / IP"), (e) => h("span", { class: "mono", title: e.request_id || "" },
                                                  `${shortId(e.request_id)} · ${e.ip || "—"}`)],
      [bi("详情", "Details"), (e) => (e.details ? JSON.stringify(e.details) : "—"), "details"],
    ], page.entries, { rowKey: (e) => String(e.id), rowClass: (e) => (e.id === brokenId ? "broken" : ""),
                       empty: "没有符合条件的记录 No entries" }));
    results.append(h("div", { class: "pager" },
      pages.length ? h("button", { type: "button", onclick: () => { pages.pop(); ctx.refresh(); } }, "← 较新 Newer") : null,
      page.next_cursor ? h("button", { type: "button", id: "audit-older",
                                          onclick: () => { pages.push(page.next_cursor); ctx.refresh(); } },
                              "较早 Older →") : null));
  } catch (error) {
    append(results, [errorBox(error)]);
  }
}
