# Creates MLflow's bucket when missing, with the boto3 of MLflow's image, in an export with --s3
# (compose's minio-bucket service, Kubernetes' init container), run as `python -c <this text>`:
# MLflow itself does not create it, and a missing bucket only shows at the first artifact request.
# `mlflow-secure export` embeds this text in the files it writes. The bucket `mlflow` is BUCKET of
# src/export/stack.ts.
import os, boto3
s3 = boto3.client('s3', endpoint_url=os.environ['MLFLOW_S3_ENDPOINT_URL'])
names = [b['Name'] for b in s3.list_buckets().get('Buckets', [])]
'mlflow' in names or s3.create_bucket(Bucket='mlflow')
print('bucket mlflow is ready')
