// Actionable sentences for what identity providers answer. Microsoft puts an AADSTS code in
// error_description; Google answers with bare OAuth error codes.

const MICROSOFT: [RegExp, string][] = [
  [/AADSTS7000215/, "Microsoft says the client secret is wrong: copy the secret's Value (not its Secret ID) from Entra ID > App registrations > Certificates & secrets"],
  [/AADSTS7000222/, "Microsoft says the client secret has expired: create a new secret for the app registration and PUT the config again"],
  [/AADSTS700016/, "Microsoft knows no application with this clientId in the tenant: check clientId and the tenant id in tokenUrl (and that the app is not single-tenant in another directory)"],
  [/AADSTS90002|AADSTS90013/, "Microsoft does not know the tenant in tokenUrl: use https://login.microsoftonline.com/<tenant id or domain>/oauth2/v2.0/token"],
  [/AADSTS65001|AADSTS650057|AADSTS500011/, "admin consent is missing: in Entra ID > App registrations > API permissions, add Office 365 Exchange Online > SMTP.SendAsApp (application) and grant admin consent"],
  [/AADSTS70011|AADSTS1002012/, "the scope is not valid for the client credentials grant: use https://outlook.office365.com/.default"],
  [/AADSTS7000112|AADSTS7000218/, "the application is disabled or needs a client secret/assertion: check the app registration"],
];

export function tokenHint(error: string, description: string, tokenUrl: string): string | undefined {
  for (const [pattern, hint] of MICROSOFT) if (pattern.test(description)) return hint;
  const google = isGoogle(tokenUrl);
  switch (error) {
    case "invalid_client":
      return google
        ? "Google rejected the service account key: check it is current (not deleted) and belongs to clientId"
        : "the identity provider rejected the client: check clientId and clientSecret (and tokenEndpointAuth: client_secret_post or client_secret_basic)";
    case "unauthorized_client":
      return google
        ? "domain-wide delegation is not granted: in Google Workspace Admin > Security > API controls > Domain-wide delegation, add the service account's client ID with scope https://mail.google.com/"
        : "the client may not use this grant: enable the client credentials grant for the app";
    case "invalid_grant":
      return google
        ? "Google refused the assertion: the impersonated mailbox (auth.user or fromEmail) must be a user in the Workspace domain, and this server's clock must be correct"
        : "the provider refused the grant: check the user, the key and this server's clock";
    case "invalid_scope":
      return google ? "use scope https://mail.google.com/" : "the scope is not allowed for this client: Microsoft 365 needs https://outlook.office365.com/.default";
    case "invalid_request":
      return "the provider could not read the token request: check tokenUrl and the grant";
    default:
      return undefined;
  }
}

function isGoogle(tokenUrl: string): boolean {
  try {
    return /(^|\.)(googleapis\.com|accounts\.google\.com)$/.test(new URL(tokenUrl).hostname);
  } catch {
    return false;
  }
}
