/**
 * core/edgex: EdgeX Foundry's formats, spoken natively. Its device profile
 * and device list files (import and export, with the one mapping of EdgeX
 * names to resource names), and its v3 events and message bus layout. The
 * hub, the CLI and the edgex plugin (through core/sdk) share it.
 */

// v3 events, values and the message bus layout: written in the SDK (edgex/ there), which plugins may import
// and this capability may not be imported by (it reaches the store, which imports the SDK); the same functions here.
export {
  EDGEX_API_VERSION,
  EDGEX_CONTENT_TYPE_CBOR,
  EDGEX_CONTENT_TYPE_JSON,
  EDGEX_DEFAULT_BASE_TOPIC,
  EDGEX_DEFAULT_MEDIA_TYPE,
  EDGEX_NULL_READING_DETAIL,
  edgexAddEventRequest,
  edgexEventOf,
  edgexEventTopic,
  edgexEventTopicFilter,
  edgexToReadings,
  edgexTopicNameIs,
  edgexUrlEncode,
  ErrEdgeXContentType,
  ErrEdgeXEncode,
  ErrEdgeXEnvelope,
  ErrEdgeXField,
  ErrEdgeXPayload,
  ErrEdgeXTopic,
  ErrEdgeXValue,
  ErrEdgeXValueType,
  formatEdgeXValue,
  formatGoFloat,
  parseEdgeXEventTopic,
  parseEdgeXValue,
  readingToEdgeX,
  unwrapEdgeXEnvelope,
  wrapEdgeXEnvelope,
  type EdgeXAddEventRequest,
  type EdgeXBinaryReading,
  type EdgeXDecodedEvent,
  type EdgeXDecodedReading,
  type EdgeXEvent,
  type EdgeXEventOptions,
  type EdgeXEventTopic,
  type EdgeXMessageEnvelope,
  type EdgeXNullReading,
  type EdgeXObjectReading,
  type EdgeXReading,
  type EdgeXReadingBase,
  type EdgeXReadingOptions,
  type EdgeXSimpleReading,
  type EdgeXTopicOptions,
  type EdgeXUnwrapped,
  type EdgeXWrapOptions,
} from '../sdk/index.ts';

// Device profile and device list files: the name mapping, import (parse) and export.
export { EDGEX_NAME_ANNOTATION, edgexNameOf, edgexProfileName, edgexResourceName } from './names.ts';
export { EDGEX_FIELDS_ANNOTATION, EDGEX_FILE_KINDS, EDGEX_VERSIONS, PLATFORM_DEVICE_FIELDS, type EdgeXFileKind, type EdgeXVersion } from './shapes.ts';
export { mergeImported, originKey, parseEdgeXFiles, type EdgeXFile, type EdgeXFileInfo, type EdgeXImportOptions, type EdgeXOrigin, type ParsedEdgeX } from './files.ts';
export { EDGEX_EXPORT_ENCODINGS, exportEdgeX, type EdgeXExport, type EdgeXExportEncoding, type EdgeXExportOptions } from './export.ts';
export { describeEdgeXProblem, ErrEdgeXExportClash, ErrEdgeXFiles, ErrEdgeXSite, type EdgeXProblem } from './errors.ts';
