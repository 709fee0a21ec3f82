import type { Alert } from "../../src/notify/alert";

/** An alert as the follow-up builds one: an enterprise image with 25 vulnerabilities read. */
export function sampleAlert(overrides: Partial<Alert> = {}): Alert {
  return {
    event: "scan_finished",
    image_type: "instance_image",
    instance_id: "inst-1",
    registry: "registry.example.com",
    namespace: "payments",
    repository: "api",
    tags: ["1.4.2", "latest"],
    digest: `sha256:${"ab".repeat(32)}`,
    severity: "High",
    vul_num: 25,
    malicious_file_num: 0,
    unsafe_setting_num: 1,
    counts: { High: 3, Medium: 20, Low: 2 },
    vulnerabilities: Array.from({ length: 25 }, (_, i) => ({
      id: `CVE-2024-${1000 + i}`,
      severity: i < 3 ? ("High" as const) : ("Medium" as const),
      package: "openssl",
      installed: "1.1.1k",
      fix: "Upgrade openssl to 1.1.1w",
    })),
    console_url: "https://console.example.com/hss",
    ...overrides,
  };
}
