// A real OpenID Connect provider (panva/oidc-provider) for the HAS tests. Loopback only.
//
//   node tests/oidc/provider.mjs            (configured by the environment below)
//
// OIDC_PORT                 port on 127.0.0.1 (required)
// OIDC_ISSUER               issuer URL (default http://127.0.0.1:$OIDC_PORT)
// OIDC_JWKS_FILE            private JWK set; created (one RSA and one P-256 key, fresh kids)
//                           when missing, so a restart with a new path rotates the keys
// OIDC_ACCESS_TOKEN_TTL     seconds (default 600); short for expiry tests
// OIDC_WEB_CLIENT_ID        browser sign-in client: code + PKCE (default acmangkut-web)
// OIDC_WEB_CLIENT_SECRET    (default web-secret)
// OIDC_WEB_REDIRECT_URIS    comma-separated (default http://127.0.0.1/callback)
// OIDC_SERVICE_CLIENTS      comma-separated id:secret pairs allowed client_credentials
//                           (default acmangkut:acmangkut-secret,pageinspect:pageinspect-secret)
// OIDC_USERS                JSON {"name": ["group", …]} added to the built-in table
//
// Access tokens are JWTs only for a resource indicator (RFC 8707; it must be an absolute URI):
// `urn:has:<name>` gives `aud: "<name>"`, any other URI is its own audience. A query
// `?alg=PS256|ES256|HS256` picks the signing algorithm (default RS256; HS256 exists so tests
// can show it is refused). Sign-in uses oidc-provider's built-in login form (any username,
// any password: fields `login` and `password`); consent is implied for the web client.
// Prints `listening <issuer>` once ready.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const env = process.env;
const port = Number(env.OIDC_PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error('OIDC_PORT must be a port number');
  process.exit(2);
}
const issuer = env.OIDC_ISSUER || `http://127.0.0.1:${port}`;
const ttl = Number(env.OIDC_ACCESS_TOKEN_TTL || 600);
const webClientId = env.OIDC_WEB_CLIENT_ID || 'acmangkut-web';
const hsSecret = 'has-test-hs256-secret-that-no-verifier-may-accept';

const groupsOf = {
  alice: ['sre'],
  bob: ['viewers'],
  admin: ['has-admins'],
  ...JSON.parse(env.OIDC_USERS || '{}'),
};

async function loadOrCreateJwks(path) {
  if (path && existsSync(path)) return JSON.parse(readFileSync(path, 'utf8'));
  const keys = [];
  for (const [alg, options] of [['RS256', { modulusLength: 2048 }], ['ES256', {}]]) {
    const { privateKey } = await generateKeyPair(alg, { ...options, extractable: true });
    keys.push({ ...(await exportJWK(privateKey)), kid: randomUUID(), use: 'sig' });
  }
  const jwks = { keys };
  if (path) writeFileSync(path, JSON.stringify(jwks), { mode: 0o600 });
  return jwks;
}

// `urn:has:pageinspect?alg=ES256` → audience `pageinspect`, signed with ES256.
function resourceServer(indicator) {
  const url = new URL(indicator);
  const alg = url.searchParams.get('alg') || 'RS256';
  url.search = '';
  const plain = url.href;
  const audience = plain.startsWith('urn:has:') ? plain.slice('urn:has:'.length) : plain;
  const sign = alg.startsWith('HS') ? { alg, key: hsSecret } : { alg };
  return {
    audience, scope: 'api', accessTokenFormat: 'jwt', accessTokenTTL: ttl, jwt: { sign },
  };
}

function userClaims(id) {
  return {
    sub: id,
    preferred_username: id,
    name: id,
    email: `${id}@has.test`,
    email_verified: true,
    groups: groupsOf[id] ?? [],
  };
}

const serviceClients = (env.OIDC_SERVICE_CLIENTS
  || 'acmangkut:acmangkut-secret,pageinspect:pageinspect-secret')
  .split(',').filter(Boolean).map((pair) => {
    const [client_id, client_secret] = pair.split(':');
    return {
      client_id, client_secret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
    };
  });

const configuration = {
  jwks: await loadOrCreateJwks(env.OIDC_JWKS_FILE),
  clients: [
    {
      client_id: webClientId,
      client_secret: env.OIDC_WEB_CLIENT_SECRET || 'web-secret',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: (env.OIDC_WEB_REDIRECT_URIS || 'http://127.0.0.1/callback').split(','),
    },
    ...serviceClients,
  ],
  async findAccount(_ctx, id) {
    return { accountId: id, async claims() { return userClaims(id); } };
  },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name', 'groups'],
    email: ['email', 'email_verified'],
  },
  // Claims go into the ID token: the access token is for a resource, not for userinfo.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  ttl: { AccessToken: ttl, ClientCredentials: ttl, IdToken: ttl },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf,
      getResourceServerInfo: (_ctx, indicator) => resourceServer(indicator),
      useGrantedResource: () => true,
    },
  },
  // User access tokens carry the same username and groups as the ID token.
  async extraTokenClaims(_ctx, token) {
    if (!token.accountId) return undefined;
    const { preferred_username, groups } = userClaims(token.accountId);
    return { preferred_username, groups };
  },
  // The web client is first-party: grant what it asks for without a consent page.
  async loadExistingGrant(ctx) {
    const { client, session, params, result } = ctx.oidc;
    const grantId = result?.consent?.grantId || session.grantIdFor(client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    if (client.clientId !== webClientId) return undefined;
    const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope(params.scope);
    for (const indicator of [params.resource ?? []].flat()) grant.addResourceScope(indicator, 'api');
    await grant.save();
    return grant;
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));
const server = provider.listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
