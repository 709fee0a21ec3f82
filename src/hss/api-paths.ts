import type { HssApi } from "./call-budget";

/** Each API: its budget name, method and path. */
export const HSS_APIS = {
  batchScan: { api: "batch-scan", method: "POST", path: "/v5/{project_id}/image/batch-scan" },
  scanTask: {
    api: "scan-task",
    method: "POST",
    path: "/v5/{project_id}/image/image-scan/tasks",
  },
  listImages: {
    api: "list-images",
    method: "GET",
    path: "/v5/{project_id}/image/registries/images",
  },
  listVulnerabilities: {
    api: "list-vulnerabilities",
    method: "GET",
    path: "/v5/{project_id}/image/{image_id}/vulnerabilities",
  },
  listRegistries: {
    api: "list-registries",
    method: "GET",
    path: "/v5/{project_id}/image/registries",
  },
  syncTask: { api: "sync-task", method: "POST", path: "/v5/{project_id}/image/image-sync/tasks" },
  syncImages: { api: "sync-images", method: "POST", path: "/v5/{project_id}/image/synchronize" },
  listTasks: { api: "list-tasks", method: "GET", path: "/v5/{project_id}/image/tasks" },
} as const satisfies Record<string, { api: HssApi; method: "GET" | "POST"; path: string }>;
