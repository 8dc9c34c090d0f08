-- Argo CD health check for Gatehouse's kinds (Workspace, Role, Member, SupportGrant).
-- Installed in argocd-cm (argocd-cm.yaml); tested in test/argocd-health.test.ts.
--   Ready=True, for the object's current generation          -> Healthy
--   phase Failed (a rule holds it back, a conflict)           -> Degraded
--   phase Expired or Revoked (access ended as declared)       -> Suspended
--   anything else (no status yet, Pending, Terminating, an
--   older generation than the one applied)                    -> Progressing
local hs = { status = "Progressing", message = "Waiting for the Gatehouse operator" }
if obj.status == nil then
  return hs
end
local ready = nil
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    end
  end
end
local generation = obj.metadata.generation
local seen = obj.status.observedGeneration
if ready ~= nil and ready.observedGeneration ~= nil then
  seen = ready.observedGeneration
end
if generation ~= nil and (seen == nil or seen < generation) then
  hs.message = "Waiting for the Gatehouse operator to reconcile generation " .. generation
  return hs
end
local phase = obj.status.phase
local message = phase
if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
  message = ready.message
end
if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = message
elseif phase == "Expired" or phase == "Revoked" then
  hs.status = "Suspended"
  hs.message = message
elseif ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = message
elseif message ~= nil then
  hs.message = message
end
return hs
