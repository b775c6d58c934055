// A small client for the Cognito user pool API (the JSON protocol the AWS
// SDKs speak), so the page needs no SDK: every call is one POST with an
// X-Amz-Target header. Only public-client calls are used; none needs AWS
// credentials.

// CognitoError is a failed call. `name` is Cognito's exception name
// (CodeMismatchException...) or "NetworkError"; `message` is for people.
export class CognitoError extends Error {
  constructor(name, message, detail = "") {
    super(message);
    this.name = name;
    this.detail = detail; // Cognito's own message, for the few cases it helps
  }
}

// Words for Cognito's exceptions. Callers may override per context (a
// NotAuthorizedException means "wrong password" at log-in and "session
// over" at refresh).
const MESSAGES = {
  UsernameExistsException: "An account with this email already exists. Log in, or confirm it with the code we emailed you.",
  CodeMismatchException: "That code is not right. Check the email we sent and try again, or ask for a new code.",
  ExpiredCodeException: "That code has expired. Ask for a new one.",
  NotAuthorizedException: "The email or password is not right.",
  UserNotFoundException: "The email or password is not right.",
  UserNotConfirmedException: "This account is not confirmed yet. Enter the code we emailed you.",
  InvalidPasswordException: "The password does not meet the rules.",
  LimitExceededException: "Too many attempts. Wait a few minutes, then try again.",
  TooManyRequestsException: "Too many attempts. Wait a minute, then try again.",
  TooManyFailedAttemptsException: "Too many failed attempts. Wait a few minutes, then try again.",
  CodeDeliveryFailureException: "We could not send the code email. Try again in a few minutes.",
  InvalidParameterException: "Some of the details are not valid.",
  PasswordResetRequiredException: "This account needs a new password before it can log in.",
  NetworkError: "Can't reach the sign-in service. Check your connection and try again.",
  // cognito-local's answer for calls it does not implement.
  Unsupported: "The sign-in service here does not support this.",
};

// NewPasswordRequired is log-in's answer for an account that must choose
// its own password first (created by an administrator with a temporary
// one). It holds what the answer needs: the email and Cognito's session
// for the challenge, never a password.
export class NewPasswordRequired extends CognitoError {
  constructor(email, session) {
    super("NewPasswordRequired", "Choose a new password to finish logging in.");
    this.email = email;
    this.session = session;
  }
}

// expiredChallenge tells whether an error from setNewPassword means the
// challenge's session is over (it lasts 3 minutes): Cognito says "Invalid
// session" with NotAuthorizedException, or InvalidParameterException /
// CodeMismatchException on some paths.
export function expiredChallenge(err) {
  if (!(err instanceof CognitoError)) return false;
  if (err.name === "NotAuthorizedException" || err.name === "ExpiredCodeException") return true;
  return /session/i.test(err.detail) && ["InvalidParameterException", "CodeMismatchException"].includes(err.name);
}

const FALLBACK = "The sign-in service had a problem. Try again in a moment.";

export class Cognito {
  constructor({ endpoint, clientId, fetchFn = (...a) => fetch(...a) }) {
    this.endpoint = endpoint;
    this.clientId = clientId;
    this.fetch = fetchFn;
  }

  async call(action, body) {
    let res;
    try {
      res = await this.fetch(this.endpoint, {
        method: "POST",
        headers: {
          "Content-Type": "application/x-amz-json-1.1",
          "X-Amz-Target": `AWSCognitoIdentityProviderService.${action}`,
        },
        body: JSON.stringify(body),
      });
    } catch {
      throw new CognitoError("NetworkError", MESSAGES.NetworkError);
    }
    const text = await res.text().catch(() => "");
    let data = {};
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      data = {};
    }
    if (res.ok) return data;
    // "__type" is "Name" or "prefix#Name"; x-amzn-ErrorType is "Name:extra".
    const type = String(data.__type || res.headers.get("x-amzn-ErrorType") || "").split("#").pop().split(":")[0];
    const detail = String(data.message || data.Message || "");
    if (res.status >= 500 && !MESSAGES[type]) throw new CognitoError(type || "ServiceError", FALLBACK, detail);
    throw new CognitoError(type || "UnknownError", MESSAGES[type] || FALLBACK, detail);
  }

  signUp(email, password) {
    return this.call("SignUp", {
      ClientId: this.clientId,
      Username: email,
      Password: password,
      UserAttributes: [{ Name: "email", Value: email }],
    });
  }

  confirmSignUp(email, code) {
    return this.call("ConfirmSignUp", { ClientId: this.clientId, Username: email, ConfirmationCode: code });
  }

  resendCode(email) {
    return this.call("ResendConfirmationCode", { ClientId: this.clientId, Username: email });
  }

  // forgotPassword has Cognito email a code that sets a new password
  // (confirmForgotPassword). For an address with no account Cognito
  // answers as for one (the pool prevents user existence errors), so no
  // one learns which addresses have accounts.
  forgotPassword(email) {
    return this.call("ForgotPassword", { ClientId: this.clientId, Username: email });
  }

  confirmForgotPassword(email, code, password) {
    return this.call("ConfirmForgotPassword", { ClientId: this.clientId, Username: email, ConfirmationCode: code, Password: password });
  }

  // logIn returns {accessToken, idToken, refreshToken}. An account an
  // administrator created must first replace its temporary password:
  // Cognito answers with the NEW_PASSWORD_REQUIRED challenge, thrown here
  // as a NewPasswordRequired to answer with setNewPassword.
  async logIn(email, password) {
    const out = await this.call("InitiateAuth", {
      ClientId: this.clientId,
      AuthFlow: "USER_PASSWORD_AUTH",
      AuthParameters: { USERNAME: email, PASSWORD: password },
    });
    if (out.AuthenticationResult) return tokens(out.AuthenticationResult);
    if (out.ChallengeName === "NEW_PASSWORD_REQUIRED" && out.Session) {
      throw new NewPasswordRequired(email, out.Session);
    }
    // Any other challenge (MFA...) this page does not handle.
    throw new CognitoError(out.ChallengeName || "Challenge",
      "This account needs a sign-in step this page does not support yet (" + (out.ChallengeName || "challenge") + ").");
  }

  // setNewPassword answers the NEW_PASSWORD_REQUIRED challenge (whose
  // session lasts 3 minutes) and returns the tokens, as logIn does.
  async setNewPassword(challenge, newPassword) {
    const out = await this.call("RespondToAuthChallenge", {
      ClientId: this.clientId,
      ChallengeName: "NEW_PASSWORD_REQUIRED",
      Session: challenge.session,
      ChallengeResponses: { USERNAME: challenge.email, NEW_PASSWORD: newPassword },
    });
    if (!out.AuthenticationResult) {
      throw new CognitoError(out.ChallengeName || "Challenge",
        "This account needs a sign-in step this page does not support yet (" + (out.ChallengeName || "challenge") + ").");
    }
    return tokens(out.AuthenticationResult);
  }

  // refresh trades the refresh token for new access and id tokens. Cognito
  // sends a new refresh token only when rotation is on.
  async refresh(refreshToken) {
    const out = await this.call("InitiateAuth", {
      ClientId: this.clientId,
      AuthFlow: "REFRESH_TOKEN_AUTH",
      AuthParameters: { REFRESH_TOKEN: refreshToken },
    });
    if (!out.AuthenticationResult) throw new CognitoError("NotAuthorizedException", MESSAGES.NotAuthorizedException);
    const t = tokens(out.AuthenticationResult);
    return { ...t, refreshToken: t.refreshToken || refreshToken };
  }

  // getUser returns the signed-in user's attributes as an object.
  async getUser(accessToken) {
    const out = await this.call("GetUser", { AccessToken: accessToken });
    const attrs = {};
    for (const a of out.UserAttributes || []) attrs[a.Name] = a.Value;
    return { username: out.Username, ...attrs };
  }

  // revoke ends the refresh token and, in Cognito, the access tokens issued
  // with it. (GlobalSignOut would end every device's session; this page
  // logs out only itself.)
  revoke(refreshToken) {
    return this.call("RevokeToken", { ClientId: this.clientId, Token: refreshToken });
  }
}

function tokens(r) {
  return { accessToken: r.AccessToken, idToken: r.IdToken, refreshToken: r.RefreshToken };
}
