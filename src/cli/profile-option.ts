// --profile FILE, shared by every command that evaluates rules.
import { getDefaultProfile, loadProfile, ProfileError, type Profile } from '../model/profile.js';
import { errorMessage, UsageError } from '../util/errors.js';

export const PROFILE_OPTION_HELP = 'product profile (permission catalog and default roles) to use instead of the built-in one';

/** The built-in profile, or the one in `file`; a bad file is a usage error (exit 2). */
export function readProfileOption(file: string | undefined): Profile {
  if (file === undefined) return getDefaultProfile();
  try {
    return loadProfile(file);
  } catch (err) {
    if (err instanceof ProfileError) throw new UsageError(`--profile: ${errorMessage(err)}`);
    throw err;
  }
}
