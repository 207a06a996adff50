// The validator's rule for connecting a field to another (podium.registry.assignable):
// the same type, either side "any", or an integer into a number.
export function assignable(source, target) {
  return source === target || source === "any" || target === "any" || (source === "integer" && target === "number");
}

// "string?" (optional) is the type "string".
export function baseType(type) {
  if (type && typeof type === "object") return baseType(type.type);
  return typeof type === "string" ? type.replace(/\?$/, "") : "any";
}

const WHOLE = /^\s*\$\{\{\s*([\s\S]*?)\s*\}\}\s*$/;
export function unwrap(value) {
  if (typeof value !== "string") return null;
  const m = WHOLE.exec(value);
  return m ? m[1] : null;
}
export function wrap(expression) { return "${{ " + expression + " }}"; }
