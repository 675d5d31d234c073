/**
 * Runs a middleware chain (`io.use`, `socket.use`): each `fn(arg, next)` in order; `next(err)` or a
 * throw stops the chain with that error; a second call of the same `next` is ignored.
 */
export type Middleware<A> = (arg: A, next: (err?: Error) => void) => void;

export function runChain<A>(fns: readonly Middleware<A>[], arg: A, done: (err?: Error) => void): void {
  const step = (i: number): void => {
    if (i === fns.length) return done();
    let called = false;
    const next = (err?: Error) => {
      if (called) return;
      called = true;
      if (err) done(err instanceof Error ? err : new Error(String(err)));
      else step(i + 1);
    };
    try {
      fns[i]!(arg, next);
    } catch (e) {
      next(e instanceof Error ? e : new Error(String(e)));
    }
  };
  step(0);
}
