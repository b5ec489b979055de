// Building the page without HTML strings: every text goes in through textContent or an
// attribute, so nothing a user or the server sends can become markup.

/**
 * Creates an element: `h('li.job', {'data-id': id}, child, 'text')`. Attributes whose value is
 * `false`, `null` or `undefined` are left out, `true` sets an empty attribute, and `on<event>`
 * keys add listeners.
 */
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(' ');
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  el.append(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

/** The element with this id (it must exist: the ids are in index.html). */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el;
}

/** Says `text` to screen readers through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (region) region.textContent = text;
}
