/**
 * Typed service references over tsyringe. A ServiceRef names a service and
 * carries its TypeScript type; its token is a registry-wide symbol, so two
 * copies of the SDK (a plugin's and the host's) agree on it. Services live in
 * a tree of scopes: the kernel's root, one scope per site, one per plugin
 * instance. Lookups walk up the tree. There are no global singletons: every
 * scope hangs off the kernel that created it.
 */
import 'reflect-metadata';
import { instanceCachingFactory, container as tsyringeRoot, type DependencyContainer } from 'tsyringe';
import { ErrServiceConflict, ErrServiceMissing } from './errors.ts';

export interface ServiceRef<T> {
  readonly id: string;
  readonly token: symbol;
  /** Phantom field carrying the service type; never set at run time. */
  readonly __type?: T;
}

export type ServiceType<R> = R extends ServiceRef<infer T> ? T : never;

const SERVICE_ID = /^[a-z][a-zA-Z0-9]*(?:[.-][a-zA-Z0-9]+)*$/;

export function createServiceRef<T>(opts: { id: string }): ServiceRef<T> {
  if (!SERVICE_ID.test(opts.id)) {
    throw new TypeError(`service id '${opts.id}' must be dotted words, e.g. 'core.telemetry'`);
  }
  return Object.freeze({ id: opts.id, token: Symbol.for(`edgeadm.service:${opts.id}`) });
}

export class ServiceScope {
  readonly name: string;
  readonly parent: ServiceScope | undefined;
  readonly #container: DependencyContainer;
  readonly #own = new Set<symbol>();
  /** Values registered with provide(), so one can be withdrawn and the rest kept. */
  readonly #values = new Map<symbol, unknown>();

  private constructor(name: string, container: DependencyContainer, parent?: ServiceScope) {
    this.name = name;
    this.#container = container;
    this.parent = parent;
  }

  /** A new root scope, detached from tsyringe's global container. */
  static root(name = 'kernel'): ServiceScope {
    return new ServiceScope(name, tsyringeRoot.createChildContainer());
  }

  child(name: string): ServiceScope {
    return new ServiceScope(name, this.#container.createChildContainer(), this);
  }

  /** Registers a value in this scope; a second registration of the same ref here is a conflict. */
  provide<T>(ref: ServiceRef<T>, value: T): void {
    if (this.#own.has(ref.token)) throw new ErrServiceConflict({ service: ref.id, scope: this.name });
    this.#own.add(ref.token);
    this.#values.set(ref.token, value);
    this.#container.registerInstance(ref.token, value);
  }

  /**
   * Removes a value registered here with provide() (a plugin instance that
   * stops takes back what it provided); lookups then reach the parent scopes
   * again, and the ref may be provided anew. Returns whether it was here.
   */
  withdraw(ref: ServiceRef<unknown>): boolean {
    if (!this.#values.has(ref.token)) return false;
    this.#values.delete(ref.token);
    this.#own.delete(ref.token);
    // tsyringe cannot drop one registration: drop every value and put the others back.
    this.#container.clearInstances();
    for (const [token, value] of this.#values) this.#container.registerInstance(token, value);
    return true;
  }

  /** Registers a factory run once, on first use, in this scope. */
  provideFactory<T>(ref: ServiceRef<T>, factory: () => T): void {
    if (this.#own.has(ref.token)) throw new ErrServiceConflict({ service: ref.id, scope: this.name });
    this.#own.add(ref.token);
    this.#container.register(ref.token, { useFactory: instanceCachingFactory<T>(() => factory()) });
  }

  has(ref: ServiceRef<unknown>): boolean {
    return this.#own.has(ref.token) || (this.parent?.has(ref) ?? false);
  }

  /** Where a ref is provided, walking up; undefined when nowhere. */
  providerScope(ref: ServiceRef<unknown>): ServiceScope | undefined {
    if (this.#own.has(ref.token)) return this;
    return this.parent?.providerScope(ref);
  }

  get<T>(ref: ServiceRef<T>, requester = this.name): T {
    if (!this.has(ref)) throw new ErrServiceMissing({ service: ref.id, requester });
    return this.#container.resolve<T>(ref.token);
  }

  /** Drops this scope's registrations; the scope must not be used afterwards. */
  async dispose(): Promise<void> {
    this.#own.clear();
    this.#values.clear();
    await this.#container.dispose();
  }
}
