// Reasons the engine gives for an object's state. They are CamelCase, like the
// rule ids (a rule violation's reason is its rule id), and the operator uses
// them unchanged as condition and event reasons: one name everywhere.
export const StateReasons = {
  /** The store holds the object as declared. */
  Synced: 'Synced',
  /** A new member's invitation is waiting for the person to accept it. */
  Invited: 'Invited',
  /** The application recorded that the member accepted the invitation. */
  Activated: 'Activated',
  /** Temporary access or a support grant reached its end time. */
  Expired: 'Expired',
  /** The invitation's lifetime passed before it was accepted; bump spec.invitation.resend to send a new one. */
  InvitationExpired: 'InvitationExpired',
  /** A support grant was revoked (spec.revoked: true). */
  Revoked: 'Revoked',
  /** A support grant was revoked because its Workspace switched vendor support access off. */
  SupportAccessOff: 'SupportAccessOff',
  /** A support grant whose start is still ahead. */
  Scheduled: 'Scheduled',
  /** A support grant in effect. */
  Granted: 'Granted',
  /** The store row the object maps to is owned by another object; it is left alone. */
  Conflict: 'Conflict',
  /** The object's Workspace or Role is not in the store (it has errors or a conflict). */
  DependencyNotReady: 'DependencyNotReady',
  /** The object is not in the store and will not be: it ended before it was ever written. */
  EndedBeforeWritten: 'EndedBeforeWritten',
  /** The object is not in the store yet (a dry run, or nothing applied so far). */
  NotApplied: 'NotApplied',
  /** The object is gone from the declaration and its rows were removed. */
  Removed: 'Removed',
  /** The object is gone from the declaration; with deletionPolicy Orphan its rows stay, unmanaged. */
  Orphaned: 'Orphaned',
  /** A Role still assigned to members in the store is not removed. */
  RoleInUse: 'RoleInUse',
  /** More than the allowed share of a workspace's members would be removed at once. */
  MassRemoval: 'MassRemoval',
} as const;

export type StateReason = (typeof StateReasons)[keyof typeof StateReasons];
