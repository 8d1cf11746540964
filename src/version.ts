import pkg from "../package.json" with { type: "json" };

// Set by release/build.ts (bun build --define); absent when running from a checkout.
declare const JFS_BUILD_VERSION: string | undefined;
declare const JFS_BUILD_COMMIT: string | undefined;

export const VERSION: string =
  typeof JFS_BUILD_VERSION === "string" ? JFS_BUILD_VERSION : pkg.version;
/** The git commit built from, "-dirty" when src/ or nfs/ had changes; "source" when unbuilt. */
export const COMMIT: string = typeof JFS_BUILD_COMMIT === "string" ? JFS_BUILD_COMMIT : "source";

/** OS-ARCH as the release files name it (jfs-linux-x64, jfs-darwin-arm64). */
export function targetName(): string {
  return `${process.platform}-${process.arch}`;
}

/** One line: what `jfs --version` prints and install.sh shows. */
export function versionLine(): string {
  return `jfs ${VERSION} (commit ${COMMIT}, ${targetName()}, bun ${Bun.version})`;
}
