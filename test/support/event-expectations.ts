import type { ScanBatch } from "../../src/hss/batch-scan-request";

export interface EventExpectation {
  /** HTTP status, or "direct" when the handler returns the report itself. */
  answer: number | "direct";
  /** What HSS must have received, request by request. */
  batches: ScanBatch[];
  skipped: number;
}

/** The configuration the samples are run with (plus the emulator's endpoint and keys). */
export const EVENT_ENV = {
  SWR_INSTANCE_ID: "configured-instance",
  SWR_INSTANCES: JSON.stringify({
    // The production registry is the instance the SWR EE samples name in their webhook URL.
    "swr-ee-prod.cn-north-4.myhuaweicloud.com": "6b7cc0f2-35b4-4f2e-9d1e-8a4d3c2b1a00",
    "swr-ee-staging.cn-north-4.myhuaweicloud.com": {
      id: "staging-instance",
      url: "swr-ee-staging.cn-north-4.myhuaweicloud.com",
    },
  }),
  WEBHOOK_SECRET: "sample-webhook-secret-change-me",
};

/**
 * What each sample in events/ must produce with EVENT_ENV: the answer, the skipped count, and the
 * exact HSS requests.
 */
export const EVENT_EXPECTATIONS: Record<string, EventExpectation> = {
  "apig-cloudevents-push.json": {
    answer: 202,
    skipped: 0,
    batches: [
      {
        image_type: "instance_image",
        image_info_list: [
          {
            namespace: "payments",
            image_name: "gateway",
            image_version: "v2.1.0",
            instance_id: "2e9a7c41-0b3d-4f6e-8a5c-9d1b3e5f7a20",
            instance_url: "registry.example.com/payments/gateway:v2.1.0",
          },
        ],
      },
    ],
  },
  "apig-ignored-pull.json": { answer: 200, skipped: 0, batches: [] },
  "apig-swr-ee-push.json": {
    answer: 202,
    skipped: 1,
    batches: [
      {
        image_type: "instance_image",
        image_info_list: [
          {
            namespace: "team",
            image_name: "backend/api",
            image_version: "1.4.2",
            instance_id: "6b7cc0f2-35b4-4f2e-9d1e-8a4d3c2b1a00",
            instance_url: "swr-ee-prod.cn-north-4.myhuaweicloud.com/team/backend/api:1.4.2",
          },
        ],
      },
    ],
  },
  "direct-image-list.json": {
    answer: "direct",
    skipped: 0,
    batches: [
      {
        image_type: "private_image",
        image_info_list: [
          { image_name: "openjdk", image_version: "v8.8", namespace: "test" },
          { image_name: "openjdk1", image_version: "v1.0", namespace: "test1" },
        ],
      },
    ],
  },
  "direct-operate-all.json": {
    answer: "direct",
    skipped: 0,
    batches: [{ image_type: "private_image", operate_all: true }],
  },
  "harbor-push.json": {
    answer: "direct",
    skipped: 0,
    batches: [
      {
        image_type: "instance_image",
        image_info_list: [
          {
            namespace: "test-webhook",
            image_name: "debian",
            image_version: "latest",
            instance_id: "configured-instance",
            instance_url: "hub.harbor.com/test-webhook/debian:latest",
          },
        ],
      },
    ],
  },
  "http-api-v2-push.json": {
    answer: 202,
    skipped: 1,
    batches: [
      {
        image_type: "instance_image",
        image_info_list: [
          {
            namespace: "platform",
            image_name: "tools/kubectl",
            image_version: "2026.11",
            instance_id: "9f8e7d6c-5b4a-4321-8fed-cba987654321",
            instance_url: "registry.example.com/platform/tools/kubectl:2026.11",
          },
        ],
      },
    ],
  },
  "apig-swr-ee-push-with-signatures.json": {
    answer: 202,
    skipped: 2,
    batches: [
      {
        image_type: "instance_image",
        image_info_list: [
          {
            namespace: "team",
            image_name: "backend/api",
            image_version: "1.5.0",
            instance_id: "6b7cc0f2-35b4-4f2e-9d1e-8a4d3c2b1a00",
            instance_url: "swr-ee-prod.cn-north-4.myhuaweicloud.com/team/backend/api:1.5.0",
          },
        ],
      },
    ],
  },
  "eventgrid-batch.json": {
    answer: "direct",
    skipped: 1,
    batches: [
      {
        image_type: "instance_image",
        image_info_list: [
          {
            namespace: "payments",
            image_name: "gateway",
            image_version: "v2.2.0",
            instance_id: "6b7cc0f2-35b4-4f2e-9d1e-8a4d3c2b1a00",
            instance_url: "swr-ee-prod.cn-north-4.myhuaweicloud.com/payments/gateway:v2.2.0",
          },
          {
            namespace: "platform",
            image_name: "tools/kubectl",
            image_version: "2026.11.2",
            instance_id: "staging-instance",
            instance_url: "swr-ee-staging.cn-north-4.myhuaweicloud.com",
          },
        ],
      },
    ],
  },
  "eventgrid-cloudevent.json": {
    answer: "direct",
    skipped: 0,
    batches: [
      {
        image_type: "instance_image",
        image_info_list: [
          {
            namespace: "payments",
            image_name: "ledger",
            image_version: "1.8.0",
            instance_id: "6b7cc0f2-35b4-4f2e-9d1e-8a4d3c2b1a00",
            instance_url: "swr-ee-prod.cn-north-4.myhuaweicloud.com/payments/ledger:1.8.0",
          },
        ],
      },
    ],
  },
};
