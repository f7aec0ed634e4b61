/** Public surface of the image builder. */
export { BASE_PACKAGES, BASE_SUITE, DEFAULT_CACHE_DIR, ensureBaseRootfs, type TBaseRootfs } from "./base";
export { BASE_IMAGE_GB, baseImagePath, ensureBaseImage } from "./base-image";
export { BUILDER_VERSION, buildImage, type TBuildImageOptions, type TBuildImageResult } from "./build";
export { ImageBuildError, type TImageBuildErrorCode } from "./errors";
export {
  collectImageGarbage,
  DEFAULT_GC_MIN_AGE_MS,
  DEFAULT_KEEP_RECENT_IMAGES,
  type TImageGcOptions,
  type TImageGcResult,
} from "./gc";
export {
  blobFileName,
  ImageFormatError,
  readImageHeader,
  sha256File,
  type TBaseBlob,
  type TImageHeader,
} from "./layers";
export { DEFAULT_WORKDIR, ENTRYPOINT_UNIT, SSH_CA_PATH } from "./render";
