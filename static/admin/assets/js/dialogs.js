// Modal forms on the page's one native <dialog>: a reason before an unmask, a block or a rejection, the refund
// form, confirmations of what cannot be undone. The dialog stays open and shows the API's error until the call
// succeeds or the staff member cancels, so a refused action is never mistaken for a done one.

import { append, bi, clear, errorBox, h } from "./dom.js";

function fieldElement(field) {
  const common = { name: field.name, id: `dlg-${field.name}`, required: field.required || null };
  if (field.type === "textarea") {
    return h("textarea", { ...common, maxlength: field.maxlength, minlength: field.minlength,
                           placeholder: field.placeholder }, field.value || "");
  }
  if (field.type === "select") {
    const select = h("select", common);
    for (const [value, label] of field.options) select.append(h("option", { value, selected: value === field.value },
                                                                 label));
    return select;
  }
  if (field.type === "checkboxes") {
    const chosen = new Set(field.value || []);
    return h("div", { class: "checks", id: common.id }, field.options.map(([value, label]) => h("label", {},
      h("input", { type: "checkbox", name: field.name, value, checked: chosen.has(value) }), label)));
  }
  return h("input", { ...common, type: field.type || "text", value: field.value ?? null, min: field.min,
                      max: field.max, step: field.step, minlength: field.minlength, maxlength: field.maxlength,
                      placeholder: field.placeholder, autocomplete: "off" });
}

function readValues(form, fields) {
  const values = {};
  for (const field of fields) {
    if (field.type === "checkboxes") {
      values[field.name] = [...form.querySelectorAll(`input[name="${field.name}"]:checked`)].map((i) => i.value);
    } else {
      values[field.name] = form.elements[field.name].value.trim();
    }
  }
  return values;
}

/**
 * Ask for some fields, then run `onSubmit(values)`; resolves to its result, or null when cancelled.
 * `onSubmit` may throw an ApiError (shown in the dialog) or an Error with a `.code` for a local check.
 */
export function formDialog({ title, intro, fields = [], submitLabel, danger = false, onSubmit }) {
  const dialog = document.getElementById("dialog");
  clear(dialog);
  const errorSlot = h("div");
  const submit = h("button", { type: "submit", class: danger ? "danger" : "primary", id: "dlg-submit" },
                   submitLabel || "确定 OK");
  const cancel = h("button", { type: "button", id: "dlg-cancel" }, ...bi("取消", "Cancel"));
  const form = h("form", { novalidate: true },
    h("h2", {}, title),
    intro ? h("div", { class: "muted" }, intro) : null,
    fields.map((field) => h("label", { class: "field" }, field.label, fieldElement(field),
                            field.hint ? h("span", { class: "muted" }, field.hint) : null)),
    errorSlot,
    h("div", { class: "dialog-actions" }, cancel, submit));
  dialog.append(form);

  return new Promise((resolve) => {
    let settled = false;
    const finish = (value) => {
      if (settled) return;
      settled = true;
      if (dialog.open) dialog.close();
      resolve(value);
    };
    cancel.addEventListener("click", () => finish(null));
    dialog.oncancel = () => finish(null); // Esc
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clear(errorSlot);
      submit.disabled = true;
      try {
        const result = await onSubmit(readValues(form, fields));
        finish(result === undefined ? true : result);
      } catch (error) {
        append(errorSlot, [errorBox(error)]);
      } finally {
        submit.disabled = false;
      }
    });
    dialog.showModal();
    const first = form.querySelector("input:not([type=checkbox]), textarea, select");
    if (first) first.focus();
  });
}

/** A check done in the page before calling the API, shown like an API error. */
export function localError(code, message) {
  const error = new Error(message);
  error.code = code;
  return error;
}

export function reasonField(label = bi("原因（将记入审计日志）", "Reason, kept in the audit log"), extra = {}) {
  return { name: "reason", label, type: "textarea", required: true, minlength: 5, maxlength: 200, ...extra };
}
