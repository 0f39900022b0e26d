/**
 * Field numbers of the ONNX schema bundled with onnx-proto (ONNX 1.10), per message, with the
 * message type of nested fields. Used to spot fields written by newer ONNX versions, which the
 * bundled decoder would otherwise drop without a word.
 */
export type FieldTable = Record<string, Record<number, string | null>>;

export const BUNDLED_SCHEMA: FieldTable = {
  ModelProto: { 1: null, 2: null, 3: null, 4: null, 5: null, 6: null, 7: 'GraphProto', 8: 'OperatorSetIdProto', 14: 'StringStringEntryProto', 20: 'TrainingInfoProto', 25: 'FunctionProto' },
  GraphProto: { 1: 'NodeProto', 2: null, 5: 'TensorProto', 10: null, 11: 'ValueInfoProto', 12: 'ValueInfoProto', 13: 'ValueInfoProto', 14: 'TensorAnnotation', 15: 'SparseTensorProto' },
  NodeProto: { 1: null, 2: null, 3: null, 4: null, 5: 'AttributeProto', 6: null, 7: null },
  AttributeProto: { 1: null, 2: null, 3: null, 4: null, 5: 'TensorProto', 6: 'GraphProto', 7: null, 8: null, 9: null, 10: 'TensorProto', 11: 'GraphProto', 13: null, 14: 'TypeProto', 15: 'TypeProto', 20: null, 21: null, 22: 'SparseTensorProto', 23: 'SparseTensorProto' },
  ValueInfoProto: { 1: null, 2: 'TypeProto', 3: null },
  TensorProto: { 1: null, 2: null, 3: 'TensorProto.Segment', 4: null, 5: null, 6: null, 7: null, 8: null, 9: null, 10: null, 11: null, 12: null, 13: 'StringStringEntryProto', 14: null },
  'TensorProto.Segment': { 1: null, 2: null },
  SparseTensorProto: { 1: 'TensorProto', 2: 'TensorProto', 3: null },
  TensorShapeProto: { 1: 'TensorShapeProto.Dimension' },
  'TensorShapeProto.Dimension': { 1: null, 2: null, 3: null },
  TypeProto: { 1: 'TypeProto.Tensor', 4: 'TypeProto.Sequence', 5: 'TypeProto.Map', 6: null, 8: 'TypeProto.SparseTensor', 9: 'TypeProto.Optional' },
  'TypeProto.Tensor': { 1: null, 2: 'TensorShapeProto' },
  'TypeProto.Sequence': { 1: 'TypeProto' },
  'TypeProto.Map': { 1: null, 2: 'TypeProto' },
  'TypeProto.Optional': { 1: 'TypeProto' },
  'TypeProto.SparseTensor': { 1: null, 2: 'TensorShapeProto' },
  OperatorSetIdProto: { 1: null, 2: null },
  StringStringEntryProto: { 1: null, 2: null },
  TensorAnnotation: { 1: null, 2: 'StringStringEntryProto' },
  TrainingInfoProto: { 1: 'GraphProto', 2: 'GraphProto', 3: 'StringStringEntryProto', 4: 'StringStringEntryProto' },
  FunctionProto: { 1: null, 4: null, 5: null, 6: null, 7: 'NodeProto', 8: null, 9: 'OperatorSetIdProto', 10: null },
};

/** Names of fields added after ONNX 1.10, for friendlier warnings. */
export const LATER_FIELDS: Record<string, Record<number, string>> = {
  NodeProto: { 8: 'overload', 9: 'metadata_props', 10: 'device_configurations' },
  GraphProto: { 16: 'metadata_props' },
  FunctionProto: { 11: 'attribute_proto', 12: 'value_info', 13: 'overload', 14: 'metadata_props' },
  ModelProto: { 26: 'configuration' },
  TensorProto: { 16: 'metadata_props' },
};
