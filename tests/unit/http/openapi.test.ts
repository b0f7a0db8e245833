import SwaggerParser from '@apidevtools/swagger-parser';
import type { OpenAPIV3 } from 'openapi-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';

/** Every /api route of CONTRACT.md section 6 built so far, and the ones this project adds. */
const API_ROUTES = [
  'GET /api/alerts',
  'GET /api/alerts/{id}',
  'POST /api/alerts/{id}/ack',
  'POST /api/alerts/{id}/resolve',
  'GET /api/boreholes',
  'GET /api/boreholes/{id}',
  'GET /api/boreholes/{id}/readings',
  'GET /api/boreholes/{id}/maintenance',
  'POST /api/boreholes/{id}/maintenance',
  'GET /api/dead-letters',
  'POST /api/dead-letters/replay',
  'POST /api/admin/reload',
  'GET /api/sms',
  'POST /api/sms/{id}/retry',
  'GET /api/reports',
  'GET /api/reports/uptime',
  'GET /api/reports/archive/{kind}/{from}',
  'GET /api/reports/wpdx',
  'GET /api/reports/service',
  'GET /api/reports/results',
  'GET /api/incidents',
  'GET /api/incidents/{id}',
  'POST /api/incidents/{id}/ack',
  'POST /api/incidents/{id}/arrive',
  'POST /api/incidents/{id}/parts',
  'POST /api/incidents/{id}/repair',
  'POST /api/incidents/{id}/close',
  'POST /api/boreholes/{id}/incidents',
];

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

describe('the OpenAPI document', () => {
  let h: Harness;
  let doc: OpenAPIV3.Document;

  beforeAll(async () => {
    h = await startHarness();
    const response = await h.app.inject('/openapi.json');
    expect(response.statusCode).toBe(200);
    doc = response.json<OpenAPIV3.Document>();
  });

  afterAll(async () => {
    await h.close();
  });

  const operations = (): [string, OpenAPIV3.OperationObject][] =>
    Object.entries(doc.paths).flatMap(([path, item]) =>
      METHODS.flatMap((method) => (item?.[method] ? [[`${method.toUpperCase()} ${path}`, item[method]] as [string, OpenAPIV3.OperationObject]] : [])),
    );

  it('is a valid OpenAPI 3 document', async () => {
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
    expect(doc.openapi).toMatch(/^3\./);
  });

  it('lists every /api route, and no page', () => {
    const api = operations().map(([name]) => name).filter((name) => name.split(' ')[1]?.startsWith('/api/'));
    expect(api.sort()).toEqual([...API_ROUTES].sort());
    const paths = Object.keys(doc.paths);
    for (const page of ['/', '/login', '/logout', '/alerts', '/boreholes/{id}', '/reports', '/reports/uptime.csv', '/assets/{name}', '/openapi.json']) expect(paths).not.toContain(page);
  });

  it('asks a bearer token on every /api route, and documents its answers and errors with schemas', () => {
    for (const [name, operation] of operations().filter(([name]) => name.includes(' /api/'))) {
      expect(operation.security, name).toEqual([{ bearer: [] }]);
      expect(operation.summary, name).toBeTruthy();
      const success = Object.entries(operation.responses).find(([status]) => status.startsWith('2'));
      const content = (success?.[1] as OpenAPIV3.ResponseObject | undefined)?.content?.['application/json'];
      expect(content?.schema, name).toMatchObject({ type: 'object' });
      expect(Object.keys(operation.responses), name).toContain('401');
    }
  });

  it('describes the parameters with their constraints', () => {
    const readings = doc.paths['/api/boreholes/{id}/readings']?.get;
    const names = (readings?.parameters as OpenAPIV3.ParameterObject[]).map((p) => `${p.in}:${p.name}`);
    expect(names.sort()).toEqual(['path:id', 'query:every', 'query:format', 'query:from', 'query:sep', 'query:to']);
    const list = doc.paths['/api/boreholes']?.get?.parameters as OpenAPIV3.ParameterObject[];
    expect(list.find((p) => p.name === 'limit')?.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 1000 });
    const item = (doc.paths['/api/boreholes']?.get?.responses['200'] as OpenAPIV3.ResponseObject).content?.['application/json']?.schema as OpenAPIV3.SchemaObject;
    const borehole = (item.properties?.items as OpenAPIV3.ArraySchemaObject).items as OpenAPIV3.SchemaObject;
    expect(Object.keys(borehole.properties ?? {}).sort()).toEqual(['commune', 'id', 'last_seen_at', 'location', 'name', 'open_alerts', 'region', 'status', 'village']);
    expect(borehole.properties?.status).toMatchObject({ enum: ['ok', 'alert', 'offline', 'unknown'] });
  });

  it('names the bearer security scheme', () => {
    expect(doc.components?.securitySchemes).toEqual({ bearer: { type: 'http', scheme: 'bearer' } });
  });
});
