/** Public surface of the image builder. */
export { BASE_PACKAGES, BASE_SUITE, DEFAULT_CACHE_DIR, ensureBaseRootfs, type TBaseRootfs } from "./base";
export {
  BUILDER_VERSION,
  buildImage,
  sha256File,
  type TBuildImageOptions,
  type TBuildImageResult,
} from "./build";
export { ImageBuildError, type TImageBuildErrorCode } from "./errors";
export { DEFAULT_WORKDIR, ENTRYPOINT_UNIT, SSH_CA_PATH } from "./render";
