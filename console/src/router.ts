/** Page changes without a reload; main.ts installs the renderer (pages import this, not main). */
let renderer: () => void = () => undefined;

export function setRenderer(render: () => void): void {
  renderer = render;
}

/** Moves to a console page (the server answers every /ui/<page> with the same index.html). */
export function navigate(page: string, params: Record<string, string> = {}): void {
  const query = new URLSearchParams(params).toString();
  history.pushState(null, '', `/ui/${page}${query ? `?${query}` : ''}`);
  renderer();
}
