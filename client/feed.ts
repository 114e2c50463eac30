// Values for the application: callbacks (simplest in a UI) or an async iterator (simplest in a
// script). Every listener and iterator gets every value once, in order.

export type Unsubscribe = () => void;

export class Feed<T> {
  private readonly listeners = new Set<(value: T) => void>();
  private readonly enders = new Set<() => void>();
  private ended = false;

  /** `onListenerError`: a listener threw (the others, and the client, carry on). */
  constructor(private readonly onListenerError: (error: unknown) => void) {}

  listen(listener: (value: T) => void): Unsubscribe {
    if (this.ended) return () => undefined;
    const own = (value: T) => listener(value); // the same function may listen twice
    this.listeners.add(own);
    return () => void this.listeners.delete(own);
  }

  emit(value: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(value);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }

  /** Values from now on, buffered until read; ends when the feed ends or the loop breaks. */
  iterate(): AsyncIterableIterator<T> {
    const queue: T[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const stop = this.listen((value) => {
      queue.push(value);
      wake?.();
    });
    const end = () => {
      done = true;
      stop();
      this.enders.delete(end);
      wake?.();
    };
    this.enders.add(end);
    if (this.ended) end();
    const iterator: AsyncIterableIterator<T> = {
      async next() {
        while (queue.length === 0 && !done) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        return queue.length > 0 ? { value: queue.shift() as T, done: false } : { value: undefined, done: true };
      },
      async return() {
        end();
        queue.length = 0;
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** No more values: iterators finish once they have read what is buffered. */
  end(): void {
    this.ended = true;
    for (const end of [...this.enders]) end();
    this.listeners.clear();
  }
}
