/**
 * PyTorch-exporter-style names for a module tree, so layer names in our reference models look
 * exactly like those of a `torch.onnx.export`ed model: parameters are `layer1.0.conv1.weight`,
 * nodes are `/layer1/layer1.0/conv1/Conv`.
 */
export class ModuleScope {
  private constructor(
    /** Dotted module path, e.g. `layer1.0.conv1` ('' for the root module). */
    readonly qualifiedName: string,
    /** One node-name component per module level, e.g. `['layer1', 'layer1.0', 'conv1']`. */
    readonly displayPath: readonly string[],
  ) {}

  static root(): ModuleScope {
    return new ModuleScope('', []);
  }

  /** A submodule; numeric attributes are children of containers (Sequential, ModuleList). */
  child(attribute: string | number): ModuleScope {
    const qualified = this.qualifiedName ? `${this.qualifiedName}.${attribute}` : String(attribute);
    return new ModuleScope(qualified, [...this.displayPath, unqualifiedName(qualified)]);
  }

  /**
   * An element of a ModuleList/ModuleDict `list`: the container is never called, so only the
   * element shows in node names (`/layers.0/norm1/...`).
   */
  listItem(list: string, key: string | number): ModuleScope {
    const qualified = this.qualifiedName ? `${this.qualifiedName}.${list}.${key}` : `${list}.${key}`;
    return new ModuleScope(qualified, [...this.displayPath, unqualifiedName(qualified)]);
  }

  /** The same module seen on its `n`-th call (n ≥ 1): PyTorch suffixes the scope, e.g. `relu_1`. */
  repeatedCall(n: number): ModuleScope {
    if (n === 0 || this.displayPath.length === 0) return this;
    const path = this.displayPath.slice();
    path[path.length - 1] = `${path[path.length - 1]}_${n}`;
    return new ModuleScope(this.qualifiedName, path);
  }

  /** Name of a parameter or buffer owned by this module. */
  param(name: string): string {
    return this.qualifiedName ? `${this.qualifiedName}.${name}` : name;
  }

  /** Base name of a node of this scope (the graph builder appends `_1`, `_2` on repeats). */
  nodeName(opType: string): string {
    return `/${[...this.displayPath, opType].join('/')}`;
  }
}

/**
 * PyTorch shows each scope by its last non-numeric atom plus the numeric atoms after it, so
 * children of a Sequential read `layer1.0` instead of a bare `0`.
 */
function unqualifiedName(qualified: string): string {
  const atoms = qualified.split('.');
  for (let i = atoms.length - 1; i >= 0; i--) {
    if (!/^\d+$/.test(atoms[i]!)) return atoms.slice(i).join('.');
  }
  return qualified;
}
