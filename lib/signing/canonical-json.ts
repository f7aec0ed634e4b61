// One canonical JSON for the whole product: the Formfile's canonical form, build ids and signed
// action params must all hash the same bytes.
export { canonicalJson } from "../formfile/canonical-json";
