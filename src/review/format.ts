// The access review for people (a table), for a pull-request comment
// (markdown) and for tools (JSON: docs/review.md describes it; fields are
// only ever added).
import type { ReviewReport, WorkspaceReview } from './review.js';

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

function where(source: WorkspaceReview['expiredStillDeclared'][number]['source']): string {
  if (source === null) return 'not declared in a file (delete the Member object)';
  const object = `${source.kind} ${source.namespace !== undefined ? `${source.namespace}/` : ''}${source.name}`;
  if (source.file === undefined) return `${object}: delete it from Git`;
  const lines = source.line !== undefined ? `:${source.line}${source.expiresAtLine !== undefined ? ` (expiresAt on line ${source.expiresAtLine})` : ''}` : '';
  return `${source.file}${lines}: delete ${object}`;
}

function roleName(role: string | null): string {
  return role ?? '(legacy, no role)';
}

export function formatReviewTable(report: ReviewReport): string {
  const out: string[] = [];
  for (const w of report.workspaces) {
    out.push(`Workspace ${w.workspaceId} (${w.displayName}): access review for ${w.period.from} to ${w.period.to}, ${w.findings} finding(s)`);
    const section = (title: string, headers: string[], rows: string[][]) => {
      if (rows.length === 0) return;
      out.push('', `  ${title}`, table(headers, rows).replace(/^/gm, '    '));
    };
    section('Members with no login for longer than the inactivity threshold (revoke or confirm):', ['EMAIL', 'ROLE', 'LAST LOGIN', 'DAYS'], w.inactiveMembers.map((m) => [m.email, roleName(m.role), m.lastActivity ?? 'never', String(m.inactiveDays)]));
    section('Invitations never accepted (resend or delete the Member):', ['EMAIL', 'ROLE', 'SENT', 'EXPIRES', 'EXPIRED'], w.invitationsNotAccepted.map((i) => [i.email, roleName(i.role), i.sentAt, i.expiresAt, i.expired ? 'yes' : 'no']));
    section('Access ended but still declared (delete from Git):', ['EMAIL', 'ENDED', 'WHERE'], w.expiredStillDeclared.map((e) => [e.email, e.expiredAt, where(e.source)]));
    if (w.admins.overLimit) out.push('', `  More admins than allowed: ${w.admins.count} of at most ${w.admins.max} (${w.admins.members.join(', ')}); give all but ${w.admins.max} a smaller role.`);
    section('Privileges not used in the period (consider the suggested role):', ['EMAIL', 'ROLE', 'UNUSED', 'SUGGESTED'], w.unusedPrivileges.map((u) => [u.email, roleName(u.role), u.unused.join(','), u.suggestedRole ?? '-']));
    section('Support grants:', ['NAME', 'STATE', 'FROM', 'TO', 'ALLOWED', 'DENIED', 'REASON'], w.supportGrants.map((g) => [g.name, g.state, g.startsAt, g.revokedAt ?? g.endsAt, String(g.decisions.allowed), String(g.decisions.denied), g.ticket ?? g.reason]));
    if (w.findings === 0 && w.supportGrants.length === 0) out.push('  Nothing to change.');
    out.push('');
  }
  if (report.workspaces.length === 0) out.push('No workspaces to review.');
  return `${out.join('\n').trimEnd()}\n`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function mdTable(headers: string[], rows: string[][]): string {
  return [`| ${headers.join(' | ')} |`, `| ${headers.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
}

/** Fit for a pull-request comment: a heading per workspace, a table per finding, nothing when there is nothing. */
export function formatReviewMarkdown(report: ReviewReport): string {
  const out: string[] = [`## Access review at ${report.at}`, ''];
  for (const w of report.workspaces) {
    out.push(`### ${cell(w.displayName)} (\`${w.workspaceId}\`)`, '', `Period ${w.period.from} to ${w.period.to}: **${w.findings}** finding(s).`, '');
    const section = (title: string, headers: string[], rows: string[][]) => {
      if (rows.length === 0) return;
      out.push(`#### ${title}`, '', mdTable(headers, rows), '');
    };
    section('Inactive members', ['Email', 'Role', 'Last login', 'Days inactive'], w.inactiveMembers.map((m) => [m.email, roleName(m.role), m.lastActivity ?? 'never', String(m.inactiveDays)]));
    section('Invitations never accepted', ['Email', 'Role', 'Sent', 'Expires', 'Expired'], w.invitationsNotAccepted.map((i) => [i.email, roleName(i.role), i.sentAt, i.expiresAt, i.expired ? 'yes' : 'no']));
    section('Access ended, still declared: delete from Git', ['Email', 'Ended', 'Where'], w.expiredStillDeclared.map((e) => [e.email, e.expiredAt, where(e.source)]));
    if (w.admins.overLimit) out.push(`#### Too many admins`, '', `${w.admins.count} admins, at most ${w.admins.max} allowed: ${w.admins.members.map((m) => `\`${m}\``).join(', ')}.`, '');
    section('Privileges not used in the period', ['Email', 'Role', 'Unused', 'Suggested role'], w.unusedPrivileges.map((u) => [u.email, roleName(u.role), u.unused.join(', '), u.suggestedRole ?? '-']));
    section('Support grants', ['Grant', 'State', 'From', 'To', 'Allowed', 'Denied', 'Reason'], w.supportGrants.map((g) => [g.name, g.state, g.startsAt, g.revokedAt ?? g.endsAt, String(g.decisions.allowed), String(g.decisions.denied), g.ticket !== null ? `${g.ticket}: ${g.reason}` : g.reason]));
    if (w.findings === 0 && w.supportGrants.length === 0) out.push('Nothing to change.', '');
  }
  if (report.workspaces.length === 0) out.push('No workspaces to review.', '');
  return `${out.join('\n').trimEnd()}\n`;
}
