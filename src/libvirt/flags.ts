/**
 * libvirt's flag values that vmlab passes through libvirt-dbus, by name
 * (libvirt-domain.h, libvirt-domain-snapshot.h). A call without flags passes NONE.
 */
export const NONE = 0;

/** virDomainUndefineFlagsValues: remove everything libvirt keeps besides the definition. */
export const UNDEFINE_MANAGED_SAVE = 1 << 0;
export const UNDEFINE_SNAPSHOTS_METADATA = 1 << 1;
export const UNDEFINE_NVRAM = 1 << 2;

/** virDomainXMLFlags: the persistent definition, not the running one. */
export const DOMAIN_XML_INACTIVE = 1 << 1;

/** virDomainSnapshotCreateFlags: all disks and memory in one step, or nothing. */
export const SNAPSHOT_CREATE_ATOMIC = 1 << 7;

/** virDomainModificationImpact: the running domain, its persistent definition. */
export const AFFECT_LIVE = 1 << 0;
export const AFFECT_CONFIG = 1 << 1;

/** virDomainCreateFlags: start with the CPUs stopped. */
export const START_PAUSED = 1 << 0;

/** virDomainSnapshotCreateFlags: metadata of a snapshot that is already in the disks. */
export const SNAPSHOT_CREATE_REDEFINE = 1 << 0;
