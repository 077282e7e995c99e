import type { interactionPolicy as InteractionPolicy, KoaContextWithOIDC } from 'oidc-provider';

/**
 * Keycloak's levels of authentication (LoA) as the dev provider grants them,
 * with its default "ACR to LoA mapping" of acr = the level's number: "1" =
 * password, "2" = password and a one-time code. The login form asks for the
 * code when acr_values asks for level 2; a correct code gives "2".
 */
export const DEV_ACR_VALUES = ['1', '2'] as const;
export type DevAcr = (typeof DEV_ACR_VALUES)[number];

/** The one-time code every dev user "has" (Keycloak's OTP credential). Development only. */
export const DEV_ONE_TIME_CODE = '123456';

/** The highest level `acr_values` asks for, read as Keycloak reads LoA: numbers, higher = stronger. */
export function requestedLevel(acrValues: unknown): number {
  if (typeof acrValues !== 'string') return 0;
  return Math.max(0, ...acrValues.split(' ').map(Number).filter((n) => Number.isSafeInteger(n)));
}

/**
 * The login prompt of oidc-provider's default policy plus a check Keycloak's
 * step-up flows make: a provider session below the level acr_values asks for
 * ("Condition - Level of Authentication") is authenticated again, as
 * `max_age` already does. A login just made in this interaction is accepted
 * at the level it reached (the relying party decides what to do with a weaker
 * acr, as with a Keycloak flow that lets the second factor be skipped).
 */
export function devInteractionPolicy(policy: typeof InteractionPolicy): InteractionPolicy.Prompt[] {
  const prompts = policy.base();
  const login = prompts.get('login');
  login?.checks.add(
    new policy.Check('acr_step_up', 'a higher level of authentication was requested', (ctx: KoaContextWithOIDC) => {
      const wanted = requestedLevel(ctx.oidc.params?.['acr_values']);
      if (wanted === 0 || !ctx.oidc.session?.accountId || ctx.oidc.result?.['login']) return policy.Check.NO_NEED_TO_PROMPT;
      return Number(ctx.oidc.acr ?? 0) >= wanted ? policy.Check.NO_NEED_TO_PROMPT : policy.Check.REQUEST_PROMPT;
    }),
  );
  return prompts;
}
