// The SPA side of the BFF pattern: no token ever reaches this code. Calls go to
// the gateway with the session cookie (same origin) and `X-CSRF: 1`.
const $ = (id) => document.getElementById(id);

async function showSession() {
  const response = await fetch('/auth/me', { headers: { accept: 'application/json' } });
  if (response.status !== 200) {
    $('signed-out').hidden = false;
    $('signed-in').hidden = true;
    return;
  }
  const { user, session } = await response.json();
  $('user-name').textContent = user.name ?? user.preferred_username ?? user.sub;
  $('user-email').textContent = user.email ?? 'no email';
  $('user-roles').textContent = (user.roles ?? []).join(', ') || 'none';
  $('session-expires').textContent = new Date(session.expires_at).toLocaleString();
  $('user-acr').textContent = session.acr ?? 'not stated';
  $('signed-in').hidden = false;
  $('signed-out').hidden = true;
}

// Indented, so the Authorization header the API received is readable on screen.
function prettyJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

async function callInto(path, resultId) {
  const response = await fetch(path, { headers: { 'x-csrf': '1', accept: 'application/json' } });
  const text = await response.text();
  $(resultId).textContent = `HTTP ${response.status}\n${prettyJson(text)}`;
}

$('call-api').addEventListener('click', () => callInto('/api/hello?from=demo', 'api-result'));
// Role-restricted (ROUTES_FILE): the gateway answers 403 forbidden itself to a user without the role.
$('call-admin-api').addEventListener('click', () => callInto('/admin-api/hello?from=demo', 'api-result'));
// Step-up (ROUTES_FILE acr: ["2"]): a password-only session gets 401 step_up_required, and the page sends the
// browser to the login_url the gateway gave. The Referer (asked for: the gateway's pages say no-referrer) makes
// that login come back to this page.
$('call-payments-api').addEventListener('click', async () => {
  const response = await fetch('/payments-api/hello?from=demo', {
    headers: { 'x-csrf': '1', accept: 'application/json' },
    referrerPolicy: 'same-origin',
  });
  const text = await response.text();
  $('api-result').textContent = `HTTP ${response.status}\n${prettyJson(text)}`;
  if (response.status === 401 && JSON.parse(text).error === 'step_up_required') window.location.assign(JSON.parse(text).login_url);
});
$('call-public-api').addEventListener('click', () => callInto('/public-api/hello?from=demo', 'public-result'));

$('logout').addEventListener('click', async () => {
  const response = await fetch('/auth/logout', { method: 'POST', headers: { 'x-csrf': '1', accept: 'application/json' } });
  const { logout_url: logoutUrl } = await response.json();
  window.location.assign(logoutUrl);
});

showSession().catch((err) => {
  $('status-out').textContent = `Could not reach the gateway: ${err}`;
  $('signed-out').hidden = false;
});
