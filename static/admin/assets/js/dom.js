// Building the page without innerHTML: every value (ticket text, nicknames, reasons) goes in as a text node, so
// nothing a user typed can become markup or script. Also the shared formatting of money, times and statuses.

/** h("td", {class: "num"}, "42") — attributes: class, on<Event> handlers, dataset via data-*, the rest as is. */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (key === "class") element.className = value;
    else if (value === true) element.setAttribute(key, "");
    else element.setAttribute(key, String(value));
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function clear(element) {
  while (element.firstChild) element.firstChild.remove();
  return element;
}

/** Bilingual label: Chinese first, the English in a muted span. */
export function bi(zh, en) {
  return [zh, " ", h("span", { class: "en" }, en)];
}

export function errorBox(error) {
  const code = error && error.code ? error.code : "error";
  const message = error && error.explanation ? error.explanation : String((error && error.message) || error);
  return h("div", { class: "error", role: "alert", "data-code": code }, h("code", {}, code), message,
           error && error.requestId ? h("span", { class: "request-id" }, `request id ${error.requestId}`) : null);
}

export function loading() {
  return h("div", { class: "empty" }, ...bi("加载中…", "Loading…"));
}

// --- formatting -------------------------------------------------------------------------------------

export function yuan(fen) {
  if (fen === null || fen === undefined) return "—";
  return `¥${(fen / 100).toFixed(2)}`;
}

// Times are shown in Beijing time whatever the browser's zone (the API answers in UTC).
const BEIJING = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit",
  day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const part = Object.fromEntries(BEIJING.formatToParts(date).map((p) => [p.type, p.value]));
  return `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute}`;
}

export function seconds(value) {
  if (value === null || value === undefined) return "—";
  if (value < 90) return `${Number(value).toFixed(value < 10 ? 1 : 0)} s`;
  if (value < 5400) return `${Math.round(value / 60)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

export function shortId(id) {
  return id && id.length > 12 ? `${id.slice(0, 8)}…` : id || "—";
}

/** A <input type="datetime-local"> value, read as Beijing time (as every time is shown), as an ISO instant. */
export function localInputToIso(value) {
  if (!value) return null;
  const date = new Date(/T\d\d:\d\d$/.test(value) ? `${value}:00+08:00` : `${value}+08:00`);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

// --- statuses -----------------------------------------------------------------------------------------

const STATUS = {
  // orders
  created: ["待支付", "created", ""], paid: ["已支付", "paid", "info"], fulfilled: ["已交付", "fulfilled", "ok"],
  closed: ["已关闭", "closed", ""], refunding: ["退款中", "refunding", "warn"], refunded: ["已退款", "refunded", "info"],
  partially_refunded: ["部分退款", "partially refunded", "info"],
  // refunds
  requested: ["已提交", "requested", "warn"], processing: ["处理中", "processing", "warn"],
  success: ["退款成功", "success", "ok"], abnormal: ["异常", "abnormal", "bad"],
  // tickets
  open: ["待处理", "open", "warn"], waiting_user: ["等待用户", "waiting for user", "info"],
  resolved: ["已解决", "resolved", "ok"],
  // rights requests
  pending: ["待处理", "pending", "warn"], completed: ["已完成", "completed", "ok"], rejected: ["已拒绝", "rejected", ""],
  // users
  active: ["正常", "active", "ok"], blocked: ["已封禁", "blocked", "bad"],
  // notices
  draft: ["草稿", "draft", ""], sending: ["发送中", "sending", "warn"], sent: ["已发送", "sent", "ok"],
};

// Human names of ids (style watercolor → 水彩, product hd_result → 高清原图下载（单张）, job status succeeded → 已完成),
// from GET /admin/api/labels, which reads the same message catalogs as the mini-program's API (docs/i18n.md).
let LABELS = {};

export function setLabels(groups) { LABELS = groups || {}; }

export function labelText(group, id) {
  const name = LABELS[group] && LABELS[group][id];
  return name ? name.zh : id;
}

export function label(group, id) {
  if (id === null || id === undefined || id === "") return "—";
  const name = LABELS[group] && LABELS[group][id];
  return name ? h("span", { class: "label-name", "data-label": group, "data-id": id, title: `${id} · ${name.en}` }, name.zh)
    : h("code", {}, id);
}

export function statusBadge(status) {
  const [zh, en, tone] = STATUS[status] || [status, "", ""];
  return h("span", { class: `badge ${tone}`, "data-status": status, title: en || status }, en ? `${zh} ${en}` : zh);
}

export const TICKET_CATEGORIES = {
  order_dispute: "订单争议 order dispute", generation_quality: "生成质量 generation quality",
  account: "账户 account", privacy: "隐私 privacy", other: "其他 other",
};

export const RIGHTS_CATEGORIES = {
  results: "生成结果 results", avatar: "数字分身 avatar", uploads: "上传照片 uploads",
  operation_logs: "操作日志 operation logs", devices: "设备信息 devices", account: "整个账户 account",
};

export const ROLES = {
  support: "客服 support", finance: "财务 finance", privacy_officer: "隐私官 privacy officer",
  auditor: "审计 auditor", admin: "管理员 admin",
};

export function options(select, entries, selected) {
  for (const [value, label] of entries) {
    select.append(h("option", { value, selected: value === selected }, label));
  }
  return select;
}

/** A table: columns = [[header, cell(row) → node|string, className?]]; rows clickable with onRow, keyed by rowKey. */
export function table(columns, rows, { onRow, rowClass, rowKey, empty = "没有记录 Nothing here" } = {}) {
  if (!rows.length) return h("div", { class: "empty" }, empty);
  const head = h("tr", {}, columns.map(([title, , cls]) => h("th", { class: cls }, title)));
  const body = rows.map((row) => {
    const classes = [onRow ? "clickable" : "", rowClass ? rowClass(row) : ""].filter(Boolean).join(" ");
    const tr = h("tr", { class: classes || null, "data-key": rowKey ? rowKey(row) : null },
                 columns.map(([, cell, cls]) => h("td", { class: cls }, cell(row))));
    if (onRow) tr.addEventListener("click", (event) => { if (!event.target.closest("a,button")) onRow(row); });
    return tr;
  });
  return h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), h("tbody", {}, body)));
}

export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([label, value]) => [h("dt", {}, label),
    h("dd", {}, value === null || value === undefined || value === "" ? "—" : value)]));
}

export function pageHead(title, subtitle, ...extra) {
  return h("div", { class: "page-head" }, h("div", {}, h("h1", {}, title), subtitle ? h("p", {}, subtitle) : null),
           h("div", { class: "actions" }, extra));
}
