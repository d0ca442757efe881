/**
 * The client's bearer token: the one it was given, else one from
 * `getToken()`. `refresh()` asks `getToken()` for a new one after the
 * server refused the current one; concurrent refreshes (a socket and a
 * request refused at once) share one call.
 */
export class TokenSource {
  private token: string | undefined;
  private pending: Promise<string> | null = null;

  constructor(
    token: string | undefined,
    private readonly getToken: (() => string | Promise<string>) | undefined,
  ) {
    this.token = token;
    if (token === undefined && !getToken) throw new TypeError('HeraldClient needs token or getToken');
  }

  get canRefresh(): boolean {
    return Boolean(this.getToken);
  }

  current(): Promise<string> {
    return this.token !== undefined ? Promise.resolve(this.token) : this.refresh();
  }

  /**
   * A fresh token after the server refused `refused`; when another caller (the socket, another
   * request) already replaced it meanwhile, the replacement, without asking getToken again.
   */
  refreshIfStill(refused: string): Promise<string> {
    if (this.pending) return this.pending;
    return this.token !== undefined && this.token !== refused ? Promise.resolve(this.token) : this.refresh();
  }

  refresh(): Promise<string> {
    const getToken = this.getToken;
    if (!getToken) return this.current();
    this.pending ??= Promise.resolve()
      .then(getToken)
      .then((token) => (this.token = token))
      .finally(() => (this.pending = null));
    return this.pending;
  }
}
