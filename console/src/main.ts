import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, ApiError, SignedOut } from './api.js';
import { h, replace } from './dom.js';
import { adminPage } from './pages/admin.js';
import { explorePage } from './pages/explore.js';
import { ingestPage } from './pages/ingest.js';
import { profilePage } from './pages/profile.js';
import { queryPage } from './pages/query.js';
import { navigate, setRenderer } from './router.js';
import { signInPage } from './signin.js';

interface PageSpec {
  path: string;
  title: string;
  /** Permission the page needs; the nav hides pages the token cannot use. */
  needs: string | null;
  render(params: URLSearchParams): HTMLElement;
}

const PAGES: PageSpec[] = [
  { path: 'query', title: 'Query', needs: 'read', render: (params) => queryPage(params.get('sql'), params.get('database')) },
  { path: 'explore', title: 'Explore', needs: 'read', render: () => explorePage() },
  { path: 'ingest', title: 'Ingest', needs: null, render: () => ingestPage() },
  { path: 'profile', title: 'Profile', needs: 'admin', render: () => profilePage() },
  { path: 'admin', title: 'Admin', needs: 'admin', render: () => adminPage() },
];

const app = document.getElementById('app')!;
let signOutReason: string | null = null;

function currentPage(): PageSpec {
  const name = location.pathname.replace(/^\/ui\/?/, '').replace(/\/$/, '');
  return PAGES.find((p) => p.path === name) ?? PAGES[0]!;
}

function nav(active: PageSpec): HTMLElement {
  const links = PAGES.filter((page) => page.needs === null || api.can(page.needs)).map((page) =>
    h(
      'a',
      {
        href: `/ui/${page.path}`,
        class: page === active ? 'active' : '',
        'data-page': page.path,
        onclick: (event: Event) => {
          event.preventDefault();
          navigate(page.path);
        },
      },
      page.title,
    ),
  );
  const authOn = api.info?.auth_enabled ?? false;
  return h(
    'header',
    { class: 'topbar' },
    h('span', { class: 'brand' }, 'arc-ts'),
    h('nav', {}, ...links),
    h('span', { class: 'who' }, authOn ? `token: ${api.permissions.join(', ') || 'no permissions'}` : 'authentication off', api.info ? ` · v${api.info.version}` : ''),
    authOn && h('button', { id: 'signout', class: 'link', onclick: () => signOut('Signed out.') }, 'Sign out'),
  );
}

function signOut(reason: string): void {
  api.forget();
  signOutReason = reason;
  render();
}

function render(): void {
  if (api.info?.auth_enabled && api.token === null) {
    replace(app, signInPage(signOutReason, () => ((signOutReason = null), render())));
    return;
  }
  const page = currentPage();
  document.title = `${page.title} · arc-ts console`;
  let content: HTMLElement;
  if (page.needs !== null && !api.can(page.needs)) {
    content = h('div', { class: 'page' }, h('p', { class: 'error-text' }, `This token lacks the "${page.needs}" permission this page needs (it has: ${api.permissions.join(', ') || 'none'}).`));
  } else {
    content = page.render(new URLSearchParams(location.search));
  }
  replace(app, nav(page), h('main', {}, content));
}

async function start(): Promise<void> {
  api.onSignedOut((reason) => signOut(reason));
  setRenderer(render);
  try {
    await api.loadInfo();
    const token = api.token;
    if (api.info!.auth_enabled && token !== null) {
      try {
        api.adopt(token, await api.verify(token));
      } catch (err) {
        api.forget();
        signOutReason = err instanceof ApiError ? `The stored token no longer works (${err.message}); sign in again.` : null;
      }
    }
  } catch (err) {
    if (err instanceof SignedOut) return;
    replace(app, h('div', { class: 'page' }, h('p', { class: 'error-text' }, `Cannot reach the arc-ts API: ${String(err)}`)));
    return;
  }
  window.addEventListener('popstate', render);
  render();
}

void start();
