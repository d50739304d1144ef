// DOM helpers shared by the chat and the console. Data is only ever put into the page as text
// (textContent, attribute values, blob URLs): nothing here parses HTML.

/**
 * Creates an element. `props`: `class`, `text`, `dataset`, `attrs` (attribute map), `on`
 * (event map) and any other DOM property (`type`, `disabled`, `value`, `href`, ...).
 * Children: nodes or strings (added as text), arrays of them, or null/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'attrs') {
      for (const [name, v] of Object.entries(value)) {
        if (v !== undefined && v !== null && v !== false) el.setAttribute(name, v === true ? '' : String(v));
      }
    } else if (key === 'on') {
      for (const [name, fn] of Object.entries(value)) el.addEventListener(name, fn);
    } else el[key] = value;
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** `YYYY-MM-DDTHH:MM:SS.ffffff` (UTC, no zone, as the API writes it) as a Date; null if absent. */
export function parseTime(value) {
  if (!value) return null;
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(value);
  if (!m) {
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  const millis = m[3] ? m[3].slice(0, 4).padEnd(4, '0') : '';
  const d = new Date(`${m[1]}T${m[2]}${millis}${m[4] || 'Z'}`);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** A calendar date `YYYY-MM-DD` as a local Date at midnight (for display only). */
export function parseDate(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || '');
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : null;
}

/** Reads a File as base64 (without the data: prefix). */
export function fileToBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onerror = () => reject(reader.error);
    reader.onload = () => {
      const url = String(reader.result);
      resolve(url.slice(url.indexOf(',') + 1));
    };
    reader.readAsDataURL(file);
  });
}

/** The file name at the end of an attachment URL (`attachments/<id>/<percent-encoded name>`). */
export function attachmentName(url) {
  const last = String(url).split('/').pop() || '';
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

const IMAGE = /\.(png|jpe?g|gif|webp|avif|bmp)$/i;

/** Whether an attachment looks like an image worth previewing (by its file name). */
export function looksLikeImage(url) {
  return IMAGE.test(attachmentName(url));
}

const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]}]/g;

/**
 * Text with its http(s) URLs as links: a list of strings and <a> elements, built as text and
 * attributes only. Anything else (markup included) stays literal text.
 */
export function linkify(text) {
  const out = [];
  let last = 0;
  for (const match of String(text).matchAll(URL_IN_TEXT)) {
    let href;
    try {
      href = new URL(match[0]);
    } catch {
      continue;
    }
    if (href.protocol !== 'http:' && href.protocol !== 'https:') continue;
    if (match.index > last) out.push(text.slice(last, match.index));
    out.push(h('a', {
      href: href.href,
      text: match[0],
      target: '_blank',
      rel: 'noopener noreferrer',
    }));
    last = match.index + match[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

const ICONS = {
  clip: 'M21 11.5l-8.6 8.6a5.5 5.5 0 0 1-7.8-7.8l8.9-8.9a3.7 3.7 0 0 1 5.2 5.2l-8.9 8.9a1.8 1.8 0 0 1-2.6-2.6l8.2-8.2',
  back: 'M15 5l-7 7 7 7',
};

/** A small stroked SVG icon (decorative: hidden from assistive technology). */
export function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', `icon icon-${name}`);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', ICONS[name] || '');
  svg.appendChild(path);
  return svg;
}
