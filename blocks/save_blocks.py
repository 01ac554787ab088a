"""Save the example's block documents for one environment.

    python blocks/save_blocks.py local --endpoint http://127.0.0.1:5000   # moto server / LocalStack
    python blocks/save_blocks.py aws --profile data-platform --region eu-west-1

It registers the package's block types (`SnsTopic`, `SqsQueue`) and saves the AwsCredentials
block (`federation-aws` by default) that every domain's blocks refer to. The topic and queue block
documents themselves are saved by `prefect-federation provision`, one of each per domain, named
after the domain, because only provisioning knows their ARNs and URLs. Secrets come from the
environment or a profile, never from this file.
"""

from __future__ import annotations

import argparse
import os

from prefect_aws import AwsClientParameters, AwsCredentials

from prefect_federation.blocks import SnsTopic, SqsQueue


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("environment", choices=["local", "aws"])
    parser.add_argument("--name", default="federation-aws", help="AwsCredentials block name")
    parser.add_argument("--endpoint", help="local: the AWS endpoint URL (moto server, LocalStack)")
    parser.add_argument("--profile", help="aws: the AWS profile to use")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    args = parser.parse_args(argv)

    SnsTopic.register_type_and_schema()
    SqsQueue.register_type_and_schema()
    if args.environment == "local":
        if not args.endpoint:
            parser.error("local needs --endpoint, e.g. http://127.0.0.1:5000")
        credentials = AwsCredentials(
            aws_access_key_id="local",
            aws_secret_access_key="local",
            region_name=args.region,
            aws_client_parameters=AwsClientParameters(endpoint_url=args.endpoint),
        )
    else:
        credentials = AwsCredentials(profile_name=args.profile, region_name=args.region)
    credentials.save(args.name, overwrite=True)
    print(
        f"saved AwsCredentials block {args.name!r} ({args.environment}); registered SnsTopic, "
        "SqsQueue. Next: PREFECT_FEDERATION_AWS_CREDENTIALS_BLOCK="
        f"{args.name} prefect-federation provision"
    )


if __name__ == "__main__":
    main()
